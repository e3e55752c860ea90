import Foundation
import WeEvent

/// What a callback receiver gets: `{"event":<the event as getEvent answers it>,"subscriptionId":".."}`.
enum CallbackBody {
    static func encode(subscriptionID: String, event: Event) -> Data {
        var json: [UInt8] = []
        json.reserveCapacity(300 + event.content.count * 4 / 3)
        json.append(contentsOf: #"{"event":"#.utf8)
        event.writeJSON(into: &json)
        json.append(contentsOf: #","subscriptionId":"#.utf8)
        JSONString.write(subscriptionID, into: &json)
        json.append(UInt8(ascii: "}"))
        return Data(json)
    }
}
