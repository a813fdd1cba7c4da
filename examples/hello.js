// qjs examples/hello.js
// The LLMz README task: the sum of the integers 14..1078 divisible by 3, 9 or 5.
let result = 0;
for (let i = 14; i <= 1078; i++) {
  if (i % 3 === 0 || i % 9 === 0 || i % 5 === 0) result += i;
}
console.log(`sum of 14..1078 divisible by 3, 9 or 5: ${result}`);
({ action: "exit", value: { result } });
