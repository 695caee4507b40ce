//! The `SSHSIG` armour (`-----BEGIN SSH SIGNATURE-----`), removed as
//! OpenSSH's `sshsig_dearmor` removes it.

use base64::Engine as _;

use super::error::ArmorError;

/// First line of an armoured signature.
pub const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
/// Last line of an armoured signature.
pub const END: &str = "-----END SSH SIGNATURE-----";
/// Upper bound on a signature file (an RSA-16384 signature is under 8 KiB).
pub const MAX_SIGNATURE_FILE: usize = 64 * 1024;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Removes the armour as OpenSSH's `sshsig_dearmor` does: the header and a
/// line end, the base64 body (whitespace ignored), `\n` and the footer.
pub fn dearmor(bytes: &[u8]) -> Result<Vec<u8>, ArmorError> {
    if bytes.len() > MAX_SIGNATURE_FILE {
        return Err(ArmorError::TooLarge {
            size: bytes.len(),
            limit: MAX_SIGNATURE_FILE,
        });
    }
    let text = bytes.trim_ascii_start();
    let rest = text
        .strip_prefix(BEGIN.as_bytes())
        .ok_or(ArmorError::MissingHeader)?;
    let rest = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .ok_or(ArmorError::NoLineEnd)?;
    let footer = [b"\n", END.as_bytes()].concat();
    let end = find(rest, &footer).ok_or(ArmorError::MissingFooter)?;
    let body: Vec<u8> = rest
        .get(..end)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(ArmorError::Base64)
}
