#!/usr/bin/env node
import { runCli } from './cli';

// The CLI's edge: the only place it reads process.env and the real streams.
runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTty: process.stderr.isTTY === true,
}, process.env).then((code) => {
  process.exitCode = code;
});
