import CZooKeeper
import Testing
import ZooKeeper

/// The Swift mirrors of the C library's constants carry the library's values.
@Suite struct CLibraryValuesTests {
    @Test func permissionsAreZooKeepersWireValues() {
        #expect(Permissions.read.rawValue == czk_perm_read())
        #expect(Permissions.write.rawValue == czk_perm_write())
        #expect(Permissions.create.rawValue == czk_perm_create())
        #expect(Permissions.delete.rawValue == czk_perm_delete())
        #expect(Permissions.admin.rawValue == czk_perm_admin())
    }

    @Test func errorCodesAreTheCLibrarysResultCodes() {
        let pairs: [(ZooKeeperError.Code, ZOO_ERRORS)] = [
            (.systemError, ZSYSTEMERROR), (.runtimeInconsistency, ZRUNTIMEINCONSISTENCY),
            (.dataInconsistency, ZDATAINCONSISTENCY), (.connectionLoss, ZCONNECTIONLOSS),
            (.marshallingError, ZMARSHALLINGERROR), (.unimplemented, ZUNIMPLEMENTED),
            (.operationTimeout, ZOPERATIONTIMEOUT), (.badArguments, ZBADARGUMENTS), (.invalidState, ZINVALIDSTATE),
            (.apiError, ZAPIERROR), (.noNode, ZNONODE), (.noAuth, ZNOAUTH), (.badVersion, ZBADVERSION),
            (.noChildrenForEphemerals, ZNOCHILDRENFOREPHEMERALS), (.nodeExists, ZNODEEXISTS), (.notEmpty, ZNOTEMPTY),
            (.sessionExpired, ZSESSIONEXPIRED), (.invalidCallback, ZINVALIDCALLBACK), (.invalidACL, ZINVALIDACL),
            (.authFailed, ZAUTHFAILED), (.closing, ZCLOSING), (.nothing, ZNOTHING), (.sessionMoved, ZSESSIONMOVED),
            (.notReadOnly, ZNOTREADONLY), (.ephemeralOnLocalSession, ZEPHEMERALONLOCALSESSION),
            (.noWatcher, ZNOWATCHER), (.reconfigDisabled, ZRECONFIGDISABLED),
            (.sessionClosedRequireSASLAuth, ZSESSIONCLOSEDREQUIRESASLAUTH), (.throttled, ZTHROTTLEDOP),
        ]
        for (code, c) in pairs {
            #expect(code.rawValue == c.rawValue, "\(code)")
        }
    }
}
