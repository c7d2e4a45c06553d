//! Scenarios, load generation and fault injection against real Renkei
//! nodes. It holds no code yet: it follows the federation transport.
