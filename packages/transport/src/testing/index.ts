export * from "./FakeBoard.js"
export * from "./FaultInjector.js"
