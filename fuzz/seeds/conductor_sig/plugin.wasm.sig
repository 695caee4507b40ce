{
  "version": 1,
  "algorithm": "Ed25519",
  "plugin_hash": "a2c9d1a01c6aa4d629dc4a677320ba331c06315814e60826fb0c53483ddfebff",
  "plugin_size": 56,
  "public_key": "4d7eab5facec70769bc033fd92e1fd2cab5edaa6e3221d0835731b74d18254fd",
  "signature": "ce55e34cd62ddb71168700aecb6661d865f5f71737ac491dc8fe82af990bd3a5b646426a4a27ae5a6804142440f9f0bff930e414abfc10ba75897b9e7db44803",
  "signed_at": "2025-11-19T08:59:12.482113+00:00",
  "developer": {
    "name": "Your Name",
    "email": "you@example.com"
  }
}