export * from "./FakeBoard.js"
