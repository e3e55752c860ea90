import Foundation

/// Extensions as stored: a JSON object with sorted keys.
enum ExtensionCoding {
    static func encode(_ extensions: [String: String]) -> String {
        if extensions.isEmpty { return "{}" }
        let data = (try? JSONSerialization.data(withJSONObject: extensions, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ text: String) -> [String: String] {
        if text == "{}" { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else { return [:] }
        return object
    }
}
