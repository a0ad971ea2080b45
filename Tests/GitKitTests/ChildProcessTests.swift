import Foundation
import GitKit
import Testing

@Suite struct ChildProcessTests {
    @Test func theTimeLimitHoldsWhenTheChildClosesItsOutput() throws {
        // The command sends its own output to a file: the pipe closes at once, the time
        // limit must still end it.
        let started = Date()
        let outcome = try ChildProcess.run(["/bin/sh", "-c", "exec sleep 30 > /dev/null 2>&1"], timeout: 1)
        #expect(outcome.timedOut)
        #expect(outcome.status != 0)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func aFinishedChildIsNotKeptWaitingByWhatItLeftRunning() throws {
        // A background grandchild keeps the pipe open; the child itself is done.
        let started = Date()
        let outcome = try ChildProcess.run(["/bin/sh", "-c", "sleep 30 & echo done"], timeout: 20)
        #expect(!outcome.timedOut)
        #expect(outcome.status == 0)
        #expect(outcome.text == "done\n")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func outputAndStatusAreCapturedAndTheLimitIsKept() throws {
        let outcome = try ChildProcess.run(
            ["/bin/sh", "-c", "printf 'a%.0s' $(seq 1 3000); echo; echo err >&2; exit 3"], captureLimit: 1_000)
        #expect(outcome.status == 3)
        #expect(outcome.output.count == 1_000)
        #expect(outcome.droppedBytes == 3_000 + 1 + 4 - 1_000)
        let inDirectory = try ChildProcess.run(["pwd"], in: "/tmp")
        #expect(inDirectory.text == "/tmp\n")
    }
}
