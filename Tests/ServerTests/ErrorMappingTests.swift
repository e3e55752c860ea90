import Bridge
import Cluster
import Hummingbird
import Ledger
import Testing
import WeEvent
@testable import Server

/// What a client is told for each kind of failure: code, message and status, decided in one place.
@Suite struct ErrorMappingTests {
    private func answer(_ error: any Error) -> (code: Int, message: String, status: Int) {
        let mapped = ClientError(for: error, path: "/weevent/rest/x")
        return (mapped.error.code.rawValue, mapped.error.message, mapped.status.code)
    }

    @Test func callerMistakesKeepTheirCodeAndGetA4xx() {
        #expect(answer(WeEventError(.topicNotExist)) == (100101, "topic not exist", 404))
        #expect(answer(WeEventError(.topicAlreadyExist)) == (100100, "topic already exist", 409))
        #expect(answer(WeEventError(.pageSizeInvalid)) == (100107, "page size should be an integer in(1, 100)", 400))
        #expect(answer(WeEventError(.accessTokenInvalid)).status == 401)
        #expect(answer(WeEventError(.ipNotAllowed)).status == 403)
    }

    @Test func storeAndClusterFailuresAre503sWithTheirCode() {
        #expect(answer(LedgerError.shuttingDown(groupID: "1")) == (200002, "broker is shutting down", 503))
        #expect(answer(LedgerStoreError("connection refused")) == (200500, "access ledger store failed, retry later", 503))
        #expect(answer(CoordinationError("session expired")) == (200400, "access zookeeper failed", 503))
    }

    @Test func internalFailuresAre500sThatHideTheirDetail() {
        let failures: [any Error] = [
            LedgerError.commitFailed(groupID: "1", reason: "disk I/O error /var/lib/secret"),
            LedgerError.inconsistent("event outside its block"),
            BindingFileError(path: "/etc/weevent/bindings.json.tmp", reason: "errno 28"),
            CancellationError(),
        ]
        for failure in failures {
            let told = answer(failure)
            #expect(told == (200000, "unknown error, see more details in log", 500), "\(failure)")
        }
    }

    @Test func hummingbirdsOwnErrorsKeepTheirStatus() {
        #expect(answer(HTTPError(.notFound)) == (200001, "no such endpoint: /weevent/rest/x", 404))
        #expect(answer(HTTPError(.methodNotAllowed)).status == 405)
    }
}
