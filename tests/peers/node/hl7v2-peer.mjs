// An independent HL7 v2 conformance peer for radscribe's export tests: the npm `hl7v2` parser
// (1.8.0, with its 2.5.1 dictionary hl7v2-dictionary 1.8.0) in strict mode, plus what that parser
// leaves to its user, checked against the same dictionary: the message structure (segment order,
// groups and their cardinality, e.g. ORU_R01), required fields, field lengths, and OBX-5 decoded
// as the data type OBX-2 names.
//
//   node hl7v2-peer.mjs serve PORT LOG   an MLLP receiver on 127.0.0.1: answers AA to a message
//                                        that conforms, AE (with ERR) to one that does not, and
//                                        appends one JSON line per message to LOG
//   node hl7v2-peer.mjs check            reads one message on stdin, prints the JSON line
//
// The JSON line: {"control_id", "structure", "problems": [...], "fields": {"MSH-10": ..., ...}},
// the fields as this parser reads them (unescaped), so a test can see every field where it was put.
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { HL7Error, HL7Message } from 'hl7v2';

const REPORTED = ['MSH-4', 'MSH-9', 'MSH-10', 'PID-3', 'PID-5', 'PV1-19', 'ORC-12', 'OBR-7', 'OBR-16',
  'OBR-18', 'OBR-25', 'OBR-32', 'MSA-1', 'MSA-2', 'ERR-3', 'ERR-4'];

function rawFields(segment) {
  // Field n of a segment as written (MSH-1 is the field separator itself, so MSH is shifted by one).
  const parts = segment.split('|');
  return parts[0] === 'MSH' ? ['MSH', '|', ...parts.slice(1)] : parts;
}

function matchGroup(def, segments, pos) {
  const children = Object.entries(def.segments).sort((a, b) => a[1].idx - b[1].idx);
  for (const [name, child] of children) {
    let count = 0;
    while (child.max === undefined || count < child.max) {
      const next = child.segments
        ? matchGroup(child, segments, pos)
        : (segments[pos] === name ? pos + 1 : null);
      if (next === null || next === pos) break;
      pos = next;
      count += 1;
    }
    if (count < (child.min ?? 0)) return null;
  }
  return pos;
}

function checkStructure(dictionary, structure, segments, problems) {
  const def = dictionary.messages[structure];
  if (!def) {
    problems.push(`unknown message structure ${structure}`);
    return;
  }
  const end = matchGroup(def, segments, 0);
  if (end === null) problems.push(`segments do not form ${structure}: ${segments.join(' ')}`);
  else if (end < segments.length) problems.push(`segment ${segments[end]} (#${end + 1}) not allowed here in ${structure}`);
}

function checkFields(dictionary, text, problems) {
  for (const segment of text.split('\r').filter(Boolean)) {
    const fields = rawFields(segment);
    const def = dictionary.segments[fields[0]];
    if (!def) {
      if (!fields[0].startsWith('Z')) problems.push(`unknown segment ${fields[0]}`);
      continue;
    }
    for (const [index, field] of Object.entries(def.fields)) {
      const value = fields[Number(index)] ?? '';
      if (field.opt === 'R' && value === '') problems.push(`${fields[0]}-${index} (${field.desc}) is required`);
      const isObx5 = fields[0] === 'OBX' && index === '5';
      if (field.len && !isObx5) {
        for (const repetition of value.split('~')) {
          if (repetition.length > field.len) problems.push(`${fields[0]}-${index} longer than ${field.len}`);
        }
      }
    }
  }
}

function checkObx5(message, problems) {
  let obx = message.getSegment('OBX');
  while (obx) {
    const type = obx.field(2).getValue();
    const typeDef = message.dictionary.types[type];
    if (!typeDef) problems.push(`OBX-2 names an unknown data type ${type}`);
    else if (typeDef.decode) {
      const value = obx.field(5).getValue();
      try { typeDef.decode(value); } catch (e) { problems.push(`OBX-5 is not a valid ${type}: ${e.message}`); }
    }
    obx = message.getSegment('OBX', obx);
  }
}

function reported(message) {
  const out = {};
  for (const name of REPORTED) {
    const [segmentType, position] = name.split('-');
    const segment = message.getSegment(segmentType);
    if (!segment) continue;
    const field = segment.field(Number(position));
    out[name] = field.toHL7String() === '' ? null : field.getValue();
  }
  return out;
}

export function check(input) {
  const text = Buffer.isBuffer(input) ? input.toString('utf8') : input;
  const problems = [];
  let message;
  try {
    message = HL7Message.parse(input, { strict: true });
  } catch (e) {
    return { control_id: null, structure: null, problems: [`does not parse: ${e.message}`], fields: {} };
  }
  const segments = text.split('\r').filter(Boolean).map((s) => s.slice(0, 3));
  const msh9 = rawFields(text.split('\r')[0])[9] || '';
  const parts = msh9.split('^');
  const structure = parts[2] || (parts[0] === 'ACK' ? 'ACK' : `${parts[0]}_${parts[1]}`);
  checkStructure(message.dictionary, structure, segments, problems);
  checkFields(message.dictionary, text, problems);
  checkObx5(message, problems);
  return { control_id: message.controlId, structure, problems, fields: reported(message) };
}

function serve(port, log) {
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const start = buffer.indexOf(0x0b);
        const end = buffer.indexOf(Buffer.from([0x1c, 0x0d]), start + 1);
        if (start < 0 || end < 0) break;
        const raw = buffer.subarray(start + 1, end);
        buffer = buffer.subarray(end + 2);
        const verdict = check(raw);
        appendFileSync(log, `${JSON.stringify(verdict)}\n`);
        let reply;
        try {
          const message = HL7Message.parse(raw);
          reply = verdict.problems.length
            ? message.createNak(verdict.problems.map((p) => new HL7Error(p, { hl7ErrorCode: 207 })))
            : message.createAck('AA');
          reply = reply.toHL7String();
        } catch {
          reply = 'MSH|^~\\&|HL7V2PEER||||||ACK|0|P|2.5.1\rMSA|AR|\r';
        }
        socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(reply, 'utf8'), Buffer.from([0x1c, 0x0d])]));
      }
    });
    socket.on('error', () => {});
  });
  server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') serve(args[0] || 0, args[1]);
else if (mode === 'check') console.log(JSON.stringify(check(readFileSync(0))));
