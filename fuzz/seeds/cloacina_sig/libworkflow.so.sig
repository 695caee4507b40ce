{
  "version": 1,
  "algorithm": "ed25519",
  "package_hash": "10e07c7c76697d29310a417885e246354149639a0100ac9aa0841243728f5575",
  "key_fingerprint": "01f8406fcec97fca85a7d3ca21846a316d1f31ae4473b800d5ad804ede62cff9",
  "signature": "N5MhzAFWm5WlSYwjYjPevZ2HsjEUftW16BYcpPW89lI2i5BsfxxvV94yDJfz9NkiGJcXPoqOU4r09AAl1NUuCg==",
  "signed_at": "2026-01-28T14:15:49.145483+00:00"
}