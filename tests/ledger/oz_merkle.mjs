// Reference oracle for test_merkle_golden.py. Reads JSON on stdin: one tree as
// [[address, amountDecimalString], ...] or an array of such trees (one node process for many
// trees, since start-up dominates). Prints, per tree, OpenZeppelin StandardMerkleTree's root,
// each value's proof in input order, and dump().
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const single = !Array.isArray(input[0]?.[0]);
const results = (single ? [input] : input).map(values => {
  const tree = StandardMerkleTree.of(values, ['address', 'uint256']);
  return { root: tree.root, proofs: values.map((_, i) => tree.getProof(i)), dump: tree.dump() };
});
process.stdout.write(JSON.stringify(single ? results[0] : results));
