import Testing
import WeEvent
@testable import Server

/// How a query string or form body becomes parameters, as a servlet container reads it.
@Suite struct ParametersTests {
    private func parse(_ text: String) throws(WeEventError) -> [String: String] {
        var parameters = RequestParameters([:])
        try parameters.merge(formEncoded: Substring(text))
        return parameters.values
    }

    @Test func pairsSplitAtAmpersandsAndTheFirstEquals() throws {
        #expect(
            try parse("topic=a.b&content=x=y&&flag&=nameless&empty=") == [
                "topic": "a.b", "content": "x=y", "flag": "", "empty": "",
            ])
        #expect(try parse("") == [:])
        #expect(try parse("a=1&a=2") == ["a": "2"])
    }

    @Test func percentEscapesAndPlusDecodeToUTF8() throws {
        #expect(try parse("content=a+b%26c%3D%E6%B8%A9&t%C3%A9=%F0%9F%98%80") == ["content": "a b&c=温", "té": "😀"])
        // Characters a client sent unescaped stay as they are, whatever their grapheme clusters.
        #expect(try parse("k=e\u{301}&é=1") == ["k": "e\u{301}", "é": "1"])
    }

    @Test func malformedEscapesNameTheParameter() {
        for (text, name) in [("good=1&bad=%zz", "bad"), ("x%4=1", "x%4"), ("v=%FF", "v"), ("w=%", "w")] {
            do {
                _ = try parse(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.code == .invalidInputParam)
                #expect(error.message.contains("'\(name)'"), "\(error.message)")
            }
        }
    }
}
