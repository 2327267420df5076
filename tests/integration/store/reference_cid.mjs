// Reference CIDs from the JS UnixFS importer (ipfs-unixfs-importer, installed by
// scripts/setup.sh into tools/npm): an implementation independent of deai.store.
//
// usage: node reference_cid.mjs PROJECT_ROOT < jobs.json > cids.json
// jobs.json: [{"path": "...", "profile": "unixfs-v1-2025" | "kubo-v1" | "unixfs-v0-2015"
//              | "custom", "chunkSize": n, "maxChildren": n, "rawLeaves": bool,
//              "cidVersion": 0|1, "shardSplitStrategy": "links-bytes" | "block-bytes"}]
// Prints one CID string per job, in order, as a JSON array.
import { createReadStream, lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = process.argv[2]
const pkg = join(root, 'tools/npm/node_modules/ipfs-unixfs-importer/dist/src')
const { importer } = await import(pathToFileURL(join(pkg, 'index.js')).href)
const { fixedSize } = await import(pathToFileURL(join(pkg, 'chunker/index.js')).href)
const { balanced } = await import(pathToFileURL(join(pkg, 'layout/index.js')).href)

// The importer only needs put(); nothing is kept.
const blockstore = { put: async (cid) => cid }

function options (job) {
  if (job.profile === 'unixfs-v1-2025' || job.profile === 'unixfs-v0-2015') {
    return { profile: job.profile }
  }
  const kubo = job.profile === 'kubo-v1'
  return {
    cidVersion: kubo ? 1 : job.cidVersion,
    rawLeaves: kubo ? true : job.rawLeaves,
    chunker: fixedSize({ chunkSize: kubo ? 262144 : job.chunkSize }),
    layout: balanced({ maxChildrenPerNode: kubo ? 174 : job.maxChildren }),
    shardSplitStrategy: kubo ? 'links-bytes' : job.shardSplitStrategy,
    reduceSingleLeafToSelf: true
  }
}

function * candidates (dir, prefix) {
  const names = readdirSync(dir).filter(n => !n.startsWith('.')).sort()
  if (names.length === 0) yield { path: prefix }
  for (const name of names) {
    const full = join(dir, name)
    const path = `${prefix}/${name}`
    if (lstatSync(full).isDirectory()) yield * candidates(full, path)
    else yield { path, content: createReadStream(full, { highWaterMark: 1 << 20 }) }
  }
}

async function cidOf (job) {
  const opts = options(job)
  if (!lstatSync(job.path).isDirectory()) {
    let last
    for await (const entry of importer([{ content: createReadStream(job.path, { highWaterMark: 1 << 20 }) }], blockstore, opts)) last = entry
    return last.cid.toString()
  }
  let rootEntry
  for await (const entry of importer(candidates(job.path, 'root'), blockstore, opts)) {
    if (entry.path === 'root') rootEntry = entry
  }
  return rootEntry.cid.toString()
}

let input = ''
for await (const chunk of process.stdin) input += chunk
const out = []
for (const job of JSON.parse(input)) out.push(await cidOf(job))
process.stdout.write(JSON.stringify(out) + '\n')
