import ZooKeeper

extension ZooKeeperError.Code {
    static func of(_ error: any Error) -> ZooKeeperError.Code? {
        (error as? ZooKeeperError)?.code
    }
}
