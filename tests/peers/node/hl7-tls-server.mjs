// An HL7 receiver over MLLP with TLS for radscribe's export tests: node-hl7-server 2.5.0.
//
//   node hl7-tls-server.mjs PORT CERT KEY LOG [CLIENT_CA]
//
// Answers AA to every message and appends its MSH-10 to LOG, one per line. With CLIENT_CA, a
// client certificate signed by that CA is required. Prints "listening PORT" when ready.
import { appendFileSync, readFileSync } from 'node:fs';
import { Server } from 'node-hl7-server';

const [port, cert, key, log, clientCa] = process.argv.slice(2);
const tls = { key: readFileSync(key), cert: readFileSync(cert) };
if (clientCa) {
  tls.requestCert = true;
  tls.ca = readFileSync(clientCa);
}
const server = new Server({ bindAddress: '127.0.0.1', tls });
const inbound = server.createInbound({ port: Number(port) }, async (req, res) => {
  const message = req.getMessage();
  appendFileSync(log, `${message.get('MSH.10').toString()}\n`);
  await res.sendResponse('AA');
});
inbound.on('listen', () => console.log(`listening ${port}`));
inbound.on('error', (err) => { console.error(String(err)); process.exit(1); });
