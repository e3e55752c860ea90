import Foundation
import Hummingbird
import WeEvent

/// JSON responses, written the same way everywhere.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return raw(data, status: status)
    }

    static func raw(_ bytes: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    static func bool(_ value: Bool) -> Response { raw(Array((value ? "true" : "false").utf8)) }

    struct ErrorBody: Encodable {
        let code: Int
        let message: String
    }

    static func error(_ answer: ClientError) -> Response {
        let body = ErrorBody(code: answer.error.code.rawValue, message: answer.error.message)
        let data = (try? encoder.encode(body)) ?? Data("{\"code\":200000}".utf8)
        return raw(data, status: answer.status)
    }
}
