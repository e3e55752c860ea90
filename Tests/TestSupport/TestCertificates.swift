import Foundation

/// A private CA and a server certificate for `localhost` signed by it, made with openssl in
/// `directory`: ca.crt, server.crt, server.key; and with `client`, a client certificate signed
/// by the same CA: client.crt, client.key.
public func makeTestCertificates(in directory: String, client: Bool = false) async throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    guard let openssl = findExecutable("openssl") else {
        throw ServerScript.ScriptError(message: "openssl is not installed (scripts/install-deps.sh installs it)")
    }
    try "subjectAltName=DNS:localhost\n".write(toFile: "\(directory)/san.ext", atomically: true, encoding: .utf8)
    for args in [
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.crt", "-days", "2", "-subj",
            "/CN=weevent test CA",
        ],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/server.key", "-out", "\(directory)/server.csr", "-subj", "/CN=localhost"],
        [
            "x509", "-req", "-in", "\(directory)/server.csr", "-CA", "\(directory)/ca.crt", "-CAkey", "\(directory)/ca.key", "-CAcreateserial",
            "-out", "\(directory)/server.crt", "-days", "2", "-extfile", "\(directory)/san.ext",
        ],
    ]
        + (client
            ? [
                [
                    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/client.key", "-out", "\(directory)/client.csr", "-subj",
                    "/CN=weevent test client",
                ],
                [
                    "x509", "-req", "-in", "\(directory)/client.csr", "-CA", "\(directory)/ca.crt", "-CAkey", "\(directory)/ca.key", "-CAcreateserial",
                    "-out", "\(directory)/client.crt", "-days", "2",
                ],
            ] : [])
    {
        let result = try await run(openssl, args)
        guard result.status == 0 else {
            throw ServerScript.ScriptError(message: "openssl \(args[0]) failed: \(result.stderr)")
        }
    }
}
