{
  "version": 1,
  "algorithm": "Ed25519",
  "plugin_hash": "a2c9d1a01c6aa4d629dc4a677320ba331c06315814e60826fb0c53483ddfebff",
  "plugin_size": 56,
  "public_key": "f54b88fd87b50849fdc2cd902d7a823b07e2b9715580dd5130b4a004eb8dc2a9",
  "signature": "d1992db1f3ca586d1dbecdd0d118e6648222a2d8fd7db30aef427d759039e7839eb9f74e50dd142f05bacad687423230d4703917261ead4b650c405bc6515600",
  "signed_at": "2025-11-19T08:59:12.482113+00:00",
  "developer": {
    "name": "Old Release Key",
    "email": "releases@example.com"
  }
}