import NIOCore

/// Packets from the broker, and the application's acknowledgements of the messages it was given.
extension MQTTClientCore {
    func received(_ packet: MQTTPacket, on handler: MQTTChannelHandler) {
        switch packet {
        case .publish(let publish):
            receivedPublish(publish, on: handler)
        case .puback(let ack):
            outboundCompleted(ack.packetID, session.receivedPuback(ack.packetID), kind: "PUBACK")
        case .pubrec(let rec):
            if session.receivedPubrec(rec.packetID) == .sendPubrel {
                handler.send(.pubrel(PubrelPacket(packetID: rec.packetID)))
            } else {
                logger.debug("stray PUBREC ignored", metadata: ["packetID": "\(rec.packetID)"])
            }
        case .pubcomp(let comp):
            outboundCompleted(comp.packetID, session.receivedPubcomp(comp.packetID), kind: "PUBCOMP")
        case .pubrel(let rel):
            session.receivedPubrel(rel.packetID)
            guard let release = configuration.onInboundRelease else {
                handler.send(.pubcomp(PubcompPacket(packetID: rel.packetID)))
                return
            }
            let packetID = rel.packetID
            let core = NIOLoopBound(self, eventLoop: eventLoop)
            let connection = NIOLoopBound(handler, eventLoop: eventLoop)
            let eventLoop = self.eventLoop
            Task {
                let released = await release(packetID)
                eventLoop.execute {
                    // On the connection the PUBREL came on only: after a reconnect the broker sends
                    // PUBREL again, and that one is answered.
                    guard core.value.connectedHandler === connection.value else { return }
                    if released {
                        connection.value.send(.pubcomp(PubcompPacket(packetID: packetID)))
                    } else {
                        // The broker would hold the id (and its in-flight slot) for ever: reconnect,
                        // so it sends PUBREL again and the release is tried again.
                        core.value.logger.error("a QoS 2 release could not be completed; reconnecting", metadata: ["packetID": "\(packetID)"])
                        connection.value.close(MQTTClientError(.connectionLost, "the application could not complete the release of packet \(packetID)"))
                    }
                }
            }
        case .suback(let suback):
            receivedSuback(suback)
        case .unsuback(let unsuback):
            receivedUnsuback(unsuback)
        default:
            break
        }
    }

    func acknowledge(packetID: UInt16, qos: MQTTQoS, sessionEpoch: UInt64) {
        guard sessionEpoch == self.sessionEpoch else {
            logger.debug("acknowledgement for a message of a lost session dropped", metadata: ["packetID": "\(packetID)"])
            return
        }
        switch session.acknowledge(packetID, qos: qos) {
        case .sendPuback: connectedHandler?.send(.puback(PubackPacket(packetID: packetID)))
        case .sendPubrec: connectedHandler?.send(.pubrec(PubrecPacket(packetID: packetID)))
        case .nothing: break
        }
    }

    private func receivedPublish(_ publish: PublishPacket, on handler: MQTTChannelHandler) {
        let outcome = session.receivedPublish(publish)
        switch outcome {
        case .deliver, .deliverUnderUnreleasedID:
            if outcome == .deliverUnderUnreleasedID {
                logger.warning(
                    "the broker sent a new QoS 2 message under a packet id it had not released (it lost that exchange, as after a restart from an older persistence file); delivered as a new message",
                    metadata: ["packetID": "\(publish.packetID!)", "mqttTopic": "\(publish.topic)"])
            }
            deliver(
                MQTTMessage(
                    topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, dup: publish.dup,
                    packetID: publish.packetID, underUnreleasedID: outcome == .deliverUnderUnreleasedID,
                    acknowledgement: acknowledger.map { .client($0, sessionEpoch: sessionEpoch) } ?? .none,
                    skippedPayloadLength: publish.skippedPayloadLength
                ))
        case .resendPubrec:
            handler.send(.pubrec(PubrecPacket(packetID: publish.packetID!)))
        case .ignoreDuplicate:
            break
        }
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) ended an outbound publish: its caller is answered and
    /// a waiting publish may go out.
    private func outboundCompleted(_ packetID: UInt16, _ outcome: MQTTSession.AckOutcome, kind: String) {
        guard outcome == .completed else {
            logger.debug("stray \(kind) ignored", metadata: ["packetID": "\(packetID)"])
            return
        }
        publishPromises.removeValue(forKey: packetID)?.succeed(())
        sendQueuedPublishes()
    }

    private func receivedSuback(_ suback: SubackPacket) {
        guard let request = subscribeRequests.removeValue(forKey: suback.packetID) else {
            logger.debug("stray SUBACK ignored", metadata: ["packetID": "\(suback.packetID)"])
            return
        }
        session.releaseRequestID(suback.packetID)
        var codes = suback.returnCodes
        while codes.count < request.packet.subscriptions.count { codes.append(.failure) }
        for (subscription, code) in zip(request.packet.subscriptions, codes) where code != .failure {
            session.subscribed(subscription)
        }
        if let promise = request.promise {
            promise.succeed(codes)
        } else {
            for (subscription, code) in zip(request.packet.subscriptions, codes) where code == .failure {
                logger.warning("broker refused restored subscription", metadata: ["filter": "\(subscription.topicFilter)"])
            }
        }
    }

    private func receivedUnsuback(_ unsuback: UnsubackPacket) {
        guard let request = unsubscribeRequests.removeValue(forKey: unsuback.packetID) else {
            logger.debug("stray UNSUBACK ignored", metadata: ["packetID": "\(unsuback.packetID)"])
            return
        }
        session.releaseRequestID(unsuback.packetID)
        for filter in request.packet.topicFilters { session.unsubscribed(filter) }
        request.promise?.succeed(())
    }
}
