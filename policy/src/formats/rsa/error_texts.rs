//! The texts of [`KeyError`]: each is, character for character, the
//! `String` the functions returned before their errors became an enum (the
//! warning given for a skipped PEM block).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const MIXED: &[u8] = include_bytes!("../../../../tests/vectors/rsa/mixed.pem");
const SPKI1024: &[u8] = include_bytes!("../../../../tests/vectors/rsa/rsa1024.spki.pem");

fn pem_der(text: &[u8]) -> Vec<u8> {
    pem::parse(text).unwrap().contents().to_vec()
}

/// A DER PKCS#1 `RSAPublicKey`.
fn pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    use rsa::pkcs1::der::asn1::UintRef;
    rsa::pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).unwrap(),
        public_exponent: UintRef::new(e).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn size_and_exponent_texts() {
    let literal = [
        (
            KeyError::ModulusTooLong { len: 2049 },
            "RSA key of more than 16384 bits is too large (at most 16384 supported)",
        ),
        (
            KeyError::ExponentTooLarge { len: 9 },
            "RSA public exponent is too large (at most 2^33-1)",
        ),
        (
            KeyError::TooSmall { bits: 2047 },
            "RSA key of 2047 bits is too small (at least 2048 required)",
        ),
        (
            KeyError::TooLarge { bits: 16385 },
            "RSA key of 16385 bits is too large (at most 16384 supported)",
        ),
        (
            KeyError::RsaParameters,
            "rsaEncryption key has parameters other than NULL",
        ),
        (KeyError::UnusedBits, "RSA key bit string has unused bits"),
        (
            KeyError::SubjectKey(Box::new(KeyError::TooSmall { bits: 1024 })),
            "certificate subject key: RSA key of 1024 bits is too small (at least 2048 required)",
        ),
    ];
    for (e, want) in literal {
        assert_eq!(e.to_string(), want);
    }
    let mut n = vec![0xffu8; 256];
    let err = |der: &[u8]| key_from_pkcs1_der(der).unwrap_err().to_string();
    let mut huge = vec![0xffu8; 2049];
    huge[0] = 1;
    assert_eq!(
        err(&pkcs1(&huge, &[3])),
        "RSA key of more than 16384 bits is too large (at most 16384 supported)"
    );
    assert_eq!(
        err(&pkcs1(&n, &[1; 9])),
        "RSA public exponent is too large (at most 2^33-1)"
    );
    assert_eq!(
        key_from_spki_der(&pem_der(SPKI1024))
            .unwrap_err()
            .to_string(),
        "RSA key of 1024 bits is too small (at least 2048 required)"
    );
    // The rsa crate's refusal, formatted as the old code formatted it.
    *n.last_mut().unwrap() = 0xfe;
    let rsa_err = RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(&n),
        BigUint::from_bytes_be(&[3]),
        MAX_BITS,
    )
    .unwrap_err();
    assert_eq!(
        err(&pkcs1(&n, &[3])),
        format!("invalid RSA public key: {rsa_err}")
    );
}

#[test]
fn encoding_texts() {
    let spki_err = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(b"").unwrap_err();
    assert_eq!(
        key_from_spki_der(b"").unwrap_err().to_string(),
        format!("not a SubjectPublicKeyInfo: {spki_err}")
    );
    let pkcs1_err = rsa::pkcs1::RsaPublicKey::from_der(&[0x30, 0x80]).unwrap_err();
    assert_eq!(
        key_from_pkcs1_der(&[0x30, 0x80]).unwrap_err().to_string(),
        format!("not a PKCS#1 RSA public key: {pkcs1_err}")
    );
    let cert_err = x509_cert::Certificate::from_der(&[0xff; 64]).unwrap_err();
    assert_eq!(
        key_from_certificate_der(&[0xff; 64])
            .unwrap_err()
            .to_string(),
        format!("not an X.509 certificate: {cert_err}")
    );
    let der_err = x509_cert::der::Error::from(x509_cert::der::ErrorKind::Overflow);
    assert_eq!(
        KeyError::SubjectKeyEncoding(der_err).to_string(),
        format!("certificate subject key cannot be re-encoded: {der_err}")
    );
    // An Ed25519 SubjectPublicKeyInfo holding 31 bytes.
    let mut ed = vec![
        0x30, 0x29, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x20, 0x00,
    ];
    ed.extend_from_slice(&[9; 31]);
    let ed_err = ed25519_dalek::VerifyingKey::from_public_key_der(&ed).unwrap_err();
    assert_eq!(
        key_from_spki_der(&ed).unwrap_err().to_string(),
        format!("invalid Ed25519 public key: {ed_err}")
    );
}

#[test]
fn algorithm_texts() {
    let mixed = pem::parse_many(MIXED).unwrap();
    assert_eq!(
        key_from_spki_der(mixed[1].contents())
            .unwrap_err()
            .to_string(),
        "unsupported public key algorithm id-ecPublicKey (OID 1.2.840.10045.2.1): \
         only RSA and Ed25519 keys are supported"
    );
    let oid = rsa::pkcs8::ObjectIdentifier::new_unwrap("1.2.3.4");
    assert_eq!(
        KeyError::UnsupportedAlgorithm { oid, name: None }.to_string(),
        "unsupported public key algorithm OID 1.2.3.4: only RSA and Ed25519 keys are supported"
    );
}
