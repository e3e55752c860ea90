import NIOSSL

extension MQTTTLSConfiguration {
    /// The client context for these settings; throws when a certificate or key file cannot be read.
    func makeSSLContext() throws -> NIOSSLContext {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let caFile { tlsConfiguration.trustRoots = .file(caFile) }
        if let certificateFile {
            tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
        }
        if let privateKeyFile {
            tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
        }
        tlsConfiguration.certificateVerification = verifyHostname ? .fullVerification : .noHostnameVerification
        return try NIOSSLContext(configuration: tlsConfiguration)
    }
}
