import Foundation
import Testing
import TestSupport
@testable import Server

/// The document the broker serves is docs/openapi.yaml: the generated Swift file is not stale.
@Suite struct OpenAPIDocumentTests {
    @Test func theServedDocumentIsTheYAMLOne() async throws {
        let result = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/openapi-json.py", "--check"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any]
        #expect(object?["openapi"] as? String == "3.1.0")
        #expect((object?["paths"] as? [String: Any])?["/weevent/rest/publish"] != nil)
    }
}
