import NIOSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension MQTTTLSConfiguration {
    /// The client context for these settings; throws when a certificate, key or CA directory
    /// cannot be read, or the cipher list names nothing the library knows.
    func makeSSLContext() throws -> NIOSSLContext {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        var trusted: [NIOSSLCertificate] = []
        if let caFile { trusted += try NIOSSLCertificate.fromPEMFile(caFile) }
        if let caDirectory { trusted += try Self.certificates(inDirectory: caDirectory) }
        if trustSystemRoots {
            tlsConfiguration.trustRoots = .default
            if !trusted.isEmpty { tlsConfiguration.additionalTrustRoots = [.certificates(trusted)] }
        } else if caFile != nil || caDirectory != nil {
            tlsConfiguration.trustRoots = .certificates(trusted)
        }
        if let certificateFile {
            tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
        }
        if let privateKeyFile {
            tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
        }
        if let ciphers { tlsConfiguration.cipherSuites = ciphers }
        if let version {
            let pinned: TLSVersion =
                switch version {
                case .tls11: .tlsv11
                case .tls12: .tlsv12
                case .tls13: .tlsv13
                }
            tlsConfiguration.minimumTLSVersion = pinned
            tlsConfiguration.maximumTLSVersion = pinned
        }
        tlsConfiguration.applicationProtocols = alpn
        tlsConfiguration.certificateVerification = verifyHostname ? .fullVerification : .noHostnameVerification
        return try NIOSSLContext(configuration: tlsConfiguration)
    }

    /// Every PEM certificate in the regular files of `path` (as OpenSSL's CApath, without the
    /// need for hashed names); files that hold no certificate are passed over.
    static func certificates(inDirectory path: String) throws -> [NIOSSLCertificate] {
        guard let dir = opendir(path) else {
            throw MQTTClientError(.invalidConfiguration, "cannot read the CA directory '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        var certificates: [NIOSSLCertificate] = []
        for name in names.sorted() {
            let file = path.hasSuffix("/") ? path + name : path + "/" + name
            var info = stat()
            guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if let found = try? NIOSSLCertificate.fromPEMFile(file) { certificates += found }
        }
        return certificates
    }
}
