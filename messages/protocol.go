package messages

// Protocol names the set of messages in this package that nodes exchange.
// Bump it whenever a message that crosses nodes changes incompatibly (or
// a new one is sent to peers): a protoactor node that receives a protobuf
// type its binary lacks crashes, so members compare this name before they
// send each other anything (see actors/cluster.go).
const Protocol = "pecan.v1"
