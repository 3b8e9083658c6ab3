// SPDX-License-Identifier: BSD-3-Clause
// zerofs tests: run s3rver with S3's read-after-write consistency.
//
// Usage: node s3rver-consistent.js PATH/TO/s3rver/bin/s3rver.js ARGS...
//
// s3rver 3.7's filesystem store answers a PUT once the body has passed
// through its MD5 hash, before the bytes are written to the object's
// file: the file is already opened (truncated), and the write is still
// queued.  A GET that arrives in between, as a read-back right after a
// write does, is answered with the object at 0 bytes and a 200, which no
// S3 ever does (S3 is strongly consistent since 2020).  zerofs then
// rightly refuses what it reads ("has 0 bytes, expected 124"), and tests
// that write then read back, such as a lease's checked take, failed now
// and then on a loaded machine.
//
// This runs s3rver unchanged but for that one method: putObject answers
// once the object's file is written.  A PUT cut off by a client's death
// still leaves a truncated object, as before (s3-servers.sh says why
// crash tests are judged on other stores).

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable, Transform } = require('stream');
const { pipeline } = require('stream/promises');

const bin = process.argv[2];
if (!bin) {
  console.error('usage: s3rver-consistent.js PATH/TO/s3rver.js ARGS...');
  process.exit(2);
}
const FilesystemStore = require(
  path.join(path.dirname(path.resolve(bin)), '..', 'lib', 'stores',
            'filesystem.js'));
if (typeof FilesystemStore.prototype.putObject !== 'function' ||
    typeof FilesystemStore.prototype.getResourcePath !== 'function' ||
    typeof FilesystemStore.prototype.putMetadata !== 'function') {
  console.error('s3rver-consistent.js: this s3rver has no filesystem store ' +
                'with putObject, getResourcePath and putMetadata: see ' +
                'tests/package.json for the version these tests use');
  process.exit(1);
}

FilesystemStore.prototype.putObject = async function (object) {
  const file = this.getResourcePath(object.bucket, object.key, 'object');
  const md5 = crypto.createHash('md5');
  let size = 0;
  const body = Buffer.isBuffer(object.content)
    ? Readable.from([object.content]) : object.content;

  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await pipeline(
    body,
    new Transform({
      transform(piece, encoding, done) {
        md5.update(piece);
        size += piece.length;
        done(null, piece);
      },
    }),
    fs.createWriteStream(file),   // resolves once written and closed
  );
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

// s3rver's command line reads process.argv: hide this script's argument.
process.argv.splice(2, 1);
process.argv[1] = path.resolve(bin);
require(path.resolve(bin));
