import Crypto
import Foundation

/// ZooKeeper's `digest` scheme: credentials are `user:password`, and ACL ids are
/// `user:base64(sha1("user:password"))` (SHA-1 because the scheme defines it so).
enum DigestCredentials {
    static func id(user: String, password: String) -> String {
        "\(user):\(Data(Insecure.SHA1.hash(data: Array("\(user):\(password)".utf8))).base64EncodedString())"
    }
}
