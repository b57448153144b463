//! Where uploaded bytes live: a small [`BlobStore`] over the `object_store`
//! crate, chosen by URL (`file://`, `s3://`, `memory://`).
//!
//! The database holds what is known about an object (owner, type, size,
//! SHA-256); this module only moves bytes. Keys are derived from a
//! [`StorageId`] here and nowhere else, so the layout can change in one place.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, PutResult, WriteMultipart,
};
use url::Url;

use crate::domain::{MAX_IMAGE_BYTES, StorageId};

/// Part size for stores that take parts of any size: what one upload keeps
/// in memory at most.
const SMALL_PART: usize = 64 * 1024;

/// S3 refuses parts under 5 MiB (but the last), so an S3 upload buffers up
/// to one such part; every accepted image is smaller, so it is one part.
const S3_PART: usize = MAX_IMAGE_BYTES as usize;

/// Where objects are kept, as configured by `--storage-url`.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory on the local disk.
    File(PathBuf),
    /// An S3 bucket, with an optional key prefix; credentials, region and
    /// endpoint come from the standard `AWS_*` environment variables.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix inside the bucket, without slashes at the ends.
        prefix: String,
    },
    /// Process memory; lost on exit (tests).
    Memory,
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Self::Memory => f.write_str("memory://"),
        }
    }
}

impl StorageUrl {
    /// Parses `file://DIR`, `s3://BUCKET[/PREFIX]` or `memory://`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text == "memory://" || text == "memory:" {
            return Ok(Self::Memory);
        }
        if let Some(dir) = text.strip_prefix("file://") {
            if dir.is_empty() {
                bail!("invalid --storage-url '{text}': file:// needs a directory");
            }
            return Ok(Self::File(PathBuf::from(dir)));
        }
        if text.starts_with("s3://") {
            let url = Url::parse(text)
                .map_err(|e| anyhow::anyhow!("invalid --storage-url '{text}': {e}"))?;
            let bucket = url.host_str().unwrap_or("").to_owned();
            if bucket.is_empty() || url.query().is_some() || url.password().is_some() {
                bail!("invalid --storage-url '{text}': use s3://BUCKET or s3://BUCKET/PREFIX");
            }
            let prefix = url.path().trim_matches('/').to_owned();
            return Ok(Self::S3 { bucket, prefix });
        }
        bail!(
            "unsupported --storage-url '{text}': use file://DIR, s3://BUCKET[/PREFIX] or memory://"
        )
    }
}

/// The object store for uploaded images; cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    part_size: usize,
    url: StorageUrl,
    /// For `file://`: the directory, to find staging files a killed upload left.
    dir: Option<PathBuf>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore").field("url", &self.url).finish()
    }
}

impl BlobStore {
    /// Opens the store (creating a `file://` directory) without touching the network.
    pub fn open(url: &StorageUrl) -> anyhow::Result<Self> {
        let (inner, part_size): (Arc<dyn ObjectStore>, usize) = match url {
            StorageUrl::File(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create storage directory {}", dir.display())
                })?;
                // fsync before the rename that publishes a file: an
                // acknowledged upload must survive a power cut.
                let local = LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| format!("cannot open storage directory {}", dir.display()))?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                (Arc::new(local), SMALL_PART)
            }
            StorageUrl::S3 { bucket, prefix } => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                // An explicit http:// endpoint (MinIO or moto on a private
                // network) is a deliberate choice; allow it without a second flag.
                if std::env::var("AWS_ENDPOINT_URL")
                    .or_else(|_| std::env::var("AWS_ENDPOINT"))
                    .is_ok_and(|e| e.starts_with("http://"))
                {
                    builder = builder.with_allow_http(true);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| anyhow::anyhow!("cannot configure S3 storage {url}: {e}"))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                (store, S3_PART)
            }
            StorageUrl::Memory => (Arc::new(InMemory::new()), SMALL_PART),
        };
        Ok(Self {
            inner,
            part_size,
            url: url.clone(),
            dir: match url {
                StorageUrl::File(dir) => Some(dir.clone()),
                _ => None,
            },
        })
    }

    /// Where the store is, for logs.
    pub fn url(&self) -> &StorageUrl {
        &self.url
    }

    /// One request to the store, so a wrong bucket, endpoint or credential
    /// fails at start-up with its cause instead of on the first upload.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self.inner.head(&Path::from("photos/.probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("storage {} is not usable: {e}", self.url)),
        }
    }

    /// Starts writing the object of `id`; nothing is visible until
    /// [`BlobWriter::finish`] returns.
    pub async fn begin(&self, id: &StorageId) -> Result<BlobWriter, object_store::Error> {
        let upload = self.inner.put_multipart(&key(id)).await?;
        Ok(BlobWriter {
            upload: WriteMultipart::new_with_chunk_size(upload, self.part_size),
        })
    }

    /// The object of `id` (or the part `range` selects); `None` when absent.
    pub async fn get(
        &self,
        id: &StorageId,
        range: Option<GetRange>,
    ) -> Result<Option<GetResult>, object_store::Error> {
        let options = GetOptions {
            range,
            ..GetOptions::default()
        };
        match self.inner.get_opts(&key(id), options).await {
            Ok(result) => Ok(Some(result)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object of `id`; deleting what is already gone succeeds.
    /// On `file://` this also removes the staging file of an upload that was
    /// interrupted by a crash (`object_store` names it `<key>#1`; ids are
    /// never reused, so there is at most one).
    pub async fn delete(&self, id: &StorageId) -> Result<(), object_store::Error> {
        match self.inner.delete(&key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Some(dir) = &self.dir {
            let staging = dir.join("photos").join(format!("{id}#1"));
            match tokio::fs::remove_file(&staging).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    });
                }
            }
        }
        Ok(())
    }
}

/// An object being written.
#[derive(Debug)]
pub struct BlobWriter {
    upload: WriteMultipart,
}

impl BlobWriter {
    /// Appends `bytes`, waiting while a part is still being sent.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), object_store::Error> {
        self.upload.wait_for_capacity(1).await?;
        self.upload.put(bytes);
        Ok(())
    }

    /// Completes the object, making it visible.
    pub async fn finish(self) -> Result<PutResult, object_store::Error> {
        self.upload.finish().await
    }

    /// Discards everything written.
    pub async fn abort(self) -> Result<(), object_store::Error> {
        self.upload.abort().await
    }
}

fn key(id: &StorageId) -> Path {
    Path::from(format!("photos/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        assert_eq!(
            StorageUrl::parse("file:///var/lib/x").unwrap(),
            StorageUrl::File(PathBuf::from("/var/lib/x"))
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket/a/b/").unwrap(),
            StorageUrl::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(StorageUrl::parse("memory://").unwrap(), StorageUrl::Memory);
        assert!(StorageUrl::parse("gs://bucket").is_err());
        assert!(StorageUrl::parse("s3://").is_err());
        assert!(StorageUrl::parse("file://").is_err());
    }

    #[tokio::test]
    async fn write_read_delete_in_memory() {
        let store = BlobStore::open(&StorageUrl::Memory).unwrap();
        let id = StorageId::generate();
        let mut writer = store.begin(&id).await.unwrap();
        writer.write(Bytes::from_static(b"hello ")).await.unwrap();
        writer.write(Bytes::from_static(b"world")).await.unwrap();
        assert!(store.get(&id, None).await.unwrap().is_none());
        writer.finish().await.unwrap();
        let got = store
            .get(&id, Some(GetRange::Offset(6)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.bytes().await.unwrap(), Bytes::from_static(b"world"));
        store.delete(&id).await.unwrap();
        store.delete(&id).await.unwrap();
        assert!(store.get(&id, None).await.unwrap().is_none());
    }
}
