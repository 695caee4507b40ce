{
  "version": 1,
  "algorithm": "Ed25519",
  "plugin_hash": "a2c9d1a01c6aa4d629dc4a677320ba331c06315814e60826fb0c53483ddfebff",
  "plugin_size": 56,
  "public_key": "f2033cd5cc3417d9eb6b4ee59e5de26430a0bd5dd6bd20555f49feaace5299bc",
  "signature": "3c98c8cd924520ec0021962d1c33df6f826f14a67e47519c5fd72fd08482385447bde00f2ebe53f733e44a3ca40a9dfd155fbbec97b1487fecfd3fc774d03407",
  "signed_at": "2025-11-19T08:59:12.482113+00:00",
  "developer": {
    "name": "Mallory",
    "email": "mallory@example.net"
  }
}