import Testing
import WeEvent

@Suite struct RightsTests {
    @Test func theTextFormNamesActionsGroupsAndTopics() throws {
        let right = try Right.parse("publish,read@1,2:sensors/#,alerts")
        #expect(right.actions == [.publish, .read])
        #expect(right.groups == ["1", "2"])
        #expect(right.topics == ["sensors/#", "alerts"])
        #expect(right.description == "publish,read@1,2:sensors/#,alerts")
        let everywhere = try Right.parse("read")
        #expect(everywhere.groups == nil && everywhere.topics == ["#"])
        #expect(try Right.parse("manage@*:a/+").groups == nil)
        #expect(try Right.parse(right.description) == right, "the description parses back")
    }

    @Test func aWrongRightIs100708NamingWhatIsWrong() {
        for (text, named) in [
            ("write:a", "'write' is not an action"), ("read@:a", "is not a group id"), ("read:a/#/b", "is not a topic or pattern"),
            ("read:a+", "is not a topic or pattern"), ("", "blank"), ("read@1*:a", "is not a group id"),
        ] {
            #expect(throws: WeEventError.self, "\(text)") { try Right.parse(text) }
            do {
                _ = try Right.parse(text)
            } catch {
                #expect(error.code == .rightInvalid)
                #expect(error.message.contains(named), "\(text): \(error.message)")
            }
        }
    }

    @Test func anActionIsAllowedOnATopicOneOfItsPatternsMatches() throws {
        let rights = try Rights.parse(list: "publish@1:sensors/+/temp read:a/#")
        #expect(rights.allow(.publish, group: "1", topic: "sensors/k1/temp"))
        #expect(!rights.allow(.publish, group: "2", topic: "sensors/k1/temp"), "another group")
        #expect(!rights.allow(.publish, group: "1", topic: "sensors/k1/hum"))
        #expect(!rights.allow(.read, group: "1", topic: "sensors/k1/temp"), "another action")
        #expect(rights.allow(.read, group: "7", topic: "a"), "a/# matches a")
        #expect(rights.allow(.read, group: "7", topic: "a/b/c"))
        #expect(!rights.allow(.read, group: "7", topic: "ab"))
        #expect(!rights.allow(.admin))
        #expect(Rights.everything.allow(.admin))
    }

    /// A read of a filter needs one right covering each of its items: every topic the item
    /// matches is matched by the right's pattern.
    @Test func aFilterIsCoveredOnlyWhenEveryTopicItMatchesIs() throws {
        let cases: [(pattern: String, filter: String, covered: Bool)] = [
            ("a/#", "a/#", true), ("a/#", "a/+", true), ("a/#", "a", true), ("a/#", "a/b/c", true), ("a/#", "#", false),
            ("a/#", "+/b", false), ("a/+", "a/b", true), ("a/+", "a/+", true), ("a/+", "a/#", false), ("a/+", "a", false),
            ("a/+/#", "a/+", true), ("a/+/#", "a/#", false), ("#", "#", true), ("#", "x/+/y", true), ("a/b", "a/+", false),
            ("+/b", "a/b", true), ("+/b", "+/b", true), ("+/b", "#", false), ("a/b", "a/b", true), ("a/b", "a/b/#", false),
            ("a/b/#", "a/b", true),
        ]
        for (pattern, filter, covered) in cases {
            let rights = Rights([Right(actions: [.read], topics: [pattern])])
            #expect(rights.allow(.read, group: "1", covering: try TopicFilter.parse(filter)) == covered, "\(pattern) covers \(filter)")
        }
        // A list: each item needs a right.
        let two = try Rights.parse(list: "read:a/# read:b")
        #expect(two.allow(.read, group: "1", covering: try TopicFilter.parse("a/+,b")))
        #expect(!two.allow(.read, group: "1", covering: try TopicFilter.parse("a/+,b,c")))
    }

    @Test func aListOfRightsIsWhitespaceSeparatedAndNoneIsEmpty() throws {
        #expect(try Rights.parse(list: "none").list.isEmpty)
        #expect(try Rights.parse(list: "  ").list.isEmpty)
        #expect(try Rights.parse(list: "read:a  publish@1:b").list.count == 2)
        #expect(throws: WeEventError.self) { try Rights.parse(list: "read:a bogus") }
    }

    @Test func identityNamesAreShortPlainAndNotTheBrokersOwn() throws {
        #expect(try Identity.validName("app-1.prod_x") == "app-1.prod_x")
        for bad in ["", "a b", "ä", String(repeating: "x", count: 65), "master", "Admin", "anonymous", "mqtt:x"] {
            #expect(throws: WeEventError.self, "\(bad)") { try Identity.validName(bad) }
        }
    }

    @Test func aNewTokenIs256RandomBitsAndOnlyItsDigestIsKept() {
        let (token, digest) = Identity.newToken()
        #expect(token.hasPrefix("wev_") && token.count == 4 + 43)
        #expect(digest == Identity.digest(token) && digest.count == 32)
        #expect(Identity.newToken().token != token)
    }
}
