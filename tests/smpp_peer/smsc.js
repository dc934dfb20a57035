// A small SMSC for the SMPP backend's tests, built on node-smpp (a complete,
// independent SMPP implementation): it binds ESMEs, answers submit_sm with a
// message id, sends delivery receipts and injects mobile-originated messages.
//
// Usage: node smsc.js PORT SYSTEM_ID PASSWORD
// stdout: one JSON line per event ({"event": "listening"}, {"event": "submit", ...}).
// stdin:  one JSON line per MO to inject: {"from": "...", "to": "...", "text": "..."}.
// Numbers starting 849990 are throttled (a temporary refusal), 849991 are refused
// (invalid destination), 849992 get an UNDELIV receipt; the others DELIVRD.
"use strict";

const readline = require("readline");
const smpp = require("smpp");

const [port, systemId, password] = process.argv.slice(2);
const receivers = new Set();
let nextId = 1000;

function say(event, fields) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function textOf(pdu) {
  const payload = pdu.short_message;
  if (payload && typeof payload === "object" && "message" in payload) {
    return payload.message;
  }
  return String(payload || "");
}

function stamp(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    pad(date.getUTCFullYear() % 100) + pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) + pad(date.getUTCHours()) + pad(date.getUTCMinutes())
  );
}

function receipt(messageId, destination, submitted) {
  const session = [...receivers][0];
  if (!session) {
    say("receipt_dropped", { message_id: messageId });
    return;
  }
  const stat = destination.startsWith("849992") ? "UNDELIV" : "DELIVRD";
  const err = stat === "DELIVRD" ? "000" : "001";
  const now = stamp(new Date());
  session.deliver_sm({
    source_addr: destination,
    destination_addr: "SMSC",
    esm_class: 0x04,
    short_message:
      `id:${messageId} sub:001 dlvrd:${stat === "DELIVRD" ? "001" : "000"} ` +
      `submit date:${stamp(submitted)} done date:${now} stat:${stat} err:${err} text:`,
    receipted_message_id: messageId,
  });
  say("receipt", { message_id: messageId, stat });
}

const server = smpp.createServer((session) => {
  const bound = (kind, canReceive) => (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      say("bind_refused", { kind, system_id: pdu.system_id });
      session.close();
      return;
    }
    session.send(pdu.response({ system_id: "cskh-test-smsc" }));
    if (canReceive) receivers.add(session);
    say("bound", { kind });
  };
  session.on("bind_transceiver", bound("transceiver", true));
  session.on("bind_transmitter", bound("transmitter", false));
  session.on("bind_receiver", bound("receiver", true));
  session.on("enquire_link", (pdu) => session.send(pdu.response()));
  session.on("unbind", (pdu) => {
    session.send(pdu.response());
    say("unbound", {});
    receivers.delete(session);
    session.close();
  });
  session.on("close", () => receivers.delete(session));
  session.on("error", () => receivers.delete(session));
  session.on("submit_sm", (pdu) => {
    const destination = String(pdu.destination_addr);
    if (destination.startsWith("849990")) {
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      say("throttled", { destination });
      return;
    }
    if (destination.startsWith("849991")) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
      say("refused", { destination });
      return;
    }
    const messageId = String(nextId++);
    session.send(pdu.response({ message_id: messageId }));
    say("submit", {
      message_id: messageId,
      source: String(pdu.source_addr),
      destination,
      data_coding: pdu.data_coding,
      text: textOf(pdu),
    });
    const submitted = new Date();
    setTimeout(() => receipt(messageId, destination, submitted), 20);
  });
});

server.listen(Number(port), "127.0.0.1", () => say("listening", { port: Number(port) }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const mo = JSON.parse(line);
  const session = [...receivers][0];
  if (!session) {
    say("mo_dropped", mo);
    return;
  }
  session.deliver_sm({
    source_addr: mo.from,
    destination_addr: mo.to,
    esm_class: 0,
    short_message: mo.text,
  });
  say("mo", mo);
});
process.stdin.on("end", () => server.close(() => process.exit(0)));
