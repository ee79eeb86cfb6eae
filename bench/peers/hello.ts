// The start-up yardstick: the cheapest `deno run` there is.
console.log("hello");
