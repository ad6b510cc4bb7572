// Starts @20minutes/s3rver on 127.0.0.1 for the objfs tests.
// Usage: node --openssl-legacy-provider s3rver.js DIR [PORT] [ACCESS_KEY SECRET]
// Prints "listening PORT" on stdout once it accepts connections.  Requests
// signed with any other key pair are refused (403), which is what makes a
// signing bug fail a test; unsigned requests are served anonymously.
'use strict'
const S3rver = require('@20minutes/s3rver')
const AWSAccount = require('@20minutes/s3rver/lib/models/account')

const [dir, port = '0', key, secret] = process.argv.slice(2)
if (!dir) {
  console.error('usage: s3rver.js DIR [PORT] [ACCESS_KEY SECRET]')
  process.exit(2)
}
if (key && secret) {
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER')
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(key, secret)
}
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory: dir,
  silent: !process.env.S3RVER_VERBOSE,
  vhostBuckets: false,
})
server.run().then((addr) => {
  process.stdout.write(`listening ${addr.port}\n`)
}, (err) => {
  console.error(`s3rver: ${err.message}`)
  process.exit(1)
})
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close().finally(() => process.exit(0)))
}
