#!/usr/bin/env node
import { createInterface } from 'node:readline';
import { runCli } from './cli';

// `certctl certs list | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// The CLI's edge: the only place it reads process.env and the real streams.
runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTty: process.stderr.isTTY === true,
  ask: (question) => new Promise((answer) => {
    const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
    let answered = false;
    prompt.once('close', () => answered || answer(null));
    prompt.question(question, (line) => {
      answered = true;
      prompt.close();
      answer(line);
    });
  }),
}, process.env).then((code) => {
  process.exitCode = code;
});
