{
  "version": 1,
  "algorithm": "ed25519",
  "package_hash": "10e07c7c76697d29310a417885e246354149639a0100ac9aa0841243728f5575",
  "key_fingerprint": "9cc27947439c770a4f78373fdd65cd7c6d002f61ac1739c160eabb9143226b2b",
  "signature": "cbjr5ETglt9wzlXE8SM2jiJqdIZ/X6pifiUsGfgn6dd7Ri57urfWaJz9+G+w8Ywq+n1n4VtujC7mpFHRWK1/Dg==",
  "signed_at": "2026-01-28T14:15:49.145483+00:00"
}