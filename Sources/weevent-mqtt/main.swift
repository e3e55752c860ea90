import MQTTCLI

// `weevent-mqtt pub|sub`: the same tool as `weevent mqtt`, in a binary without the broker, the
// ledger and Foundation, so it starts as fast as mosquitto_pub/sub scripts expect (docs/mqtt-cli.md).
await MQTTTool.main(StandaloneMQTTCommand.self, leading: [], arguments: Array(CommandLine.arguments.dropFirst()))
