# Shared start of every Gasworks hook block (not a hook itself): finds this checkout's
# git dir and whether it belongs to a worker, using only shell built-ins, so a checkout
# that is not a worker's pays for no process at all.
gt_dir=${GIT_DIR:-.git}
if [ -f "$gt_dir" ]; then
    read -r gt_dir <"$gt_dir"
    gt_dir=${gt_dir#gitdir: }
fi
gt_worker=${GT_POLECAT-}${GT_CREW-}
if [ -z "$gt_worker" ] && [ -f "$gt_dir/gt/worker" ]; then gt_worker=1; fi
