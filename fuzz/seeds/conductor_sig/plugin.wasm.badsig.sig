{
  "version": 1,
  "algorithm": "Ed25519",
  "plugin_hash": "a2c9d1a01c6aa4d629dc4a677320ba331c06315814e60826fb0c53483ddfebff",
  "plugin_size": 56,
  "public_key": "4d7eab5facec70769bc033fd92e1fd2cab5edaa6e3221d0835731b74d18254fd",
  "signature": "11ffafae019a22fc239c6c6def1f171a82d81fc6b035ab1458301483672b489da32ed8bd27c3f751370265dce8398a5f71b6be8f6db56f5383d1b2bcad6a290f",
  "signed_at": "2025-11-19T08:59:12.482113+00:00",
  "developer": {
    "name": "Your Name",
    "email": "you@example.com"
  }
}