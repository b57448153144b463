//! Sending sign-in codes: through SMTP (`lettre`) when `--smtp-url` is set,
//! else into the server log, so a new user can sign in on a laptop.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SignInConfig;

/// Where codes go.
#[derive(Debug)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// Pooled connections.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `From:`.
        from: Mailbox,
    },
    /// The log, at WARN (no mail server configured).
    Log,
}

impl Mailer {
    /// Builds the mailer; connects lazily.
    pub fn new(config: &SignInConfig) -> anyhow::Result<Self> {
        let Some(url) = &config.smtp_url else {
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| anyhow::anyhow!("invalid --smtp-url {url:?}: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let from = Mailbox::from_str(&config.mail_from)
            .with_context(|| format!("invalid --mail-from '{}'", config.mail_from))?;
        Ok(Self::Smtp { transport, from })
    }

    /// Sends `code` to `to`, saying how long it lives.
    pub async fn send_code(&self, to: &str, code: &str, ttl: Duration) -> anyhow::Result<()> {
        let minutes = ttl.as_secs().div_ceil(60);
        let lifetime = if minutes == 1 {
            "1 minute".to_owned()
        } else {
            format!("{minutes} minutes")
        };
        match self {
            Self::Log => {
                tracing::warn!(
                    to = %mask_email(to),
                    "mail is not configured (--smtp-url); sign-in code {code} is valid for {lifetime}"
                );
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let to: Mailbox = to.parse().context("the address cannot receive mail")?;
                let text = format!(
                    "Your sign-in code is {code}\n\nIt is valid for {lifetime}. \
                     If you did not ask for it, ignore this message.\n"
                );
                let html = format!(
                    "<p>Your sign-in code is</p><p style=\"font-size:28px;font-weight:bold;\
                     letter-spacing:4px\">{code}</p><p>It is valid for {lifetime}. \
                     If you did not ask for it, ignore this message.</p>"
                );
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(format!("Your sign-in code: {code}"))
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .context("building the message failed")?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| anyhow::anyhow!("SMTP delivery failed: {e}"))?;
                Ok(())
            }
        }
    }
}

/// `jo***@example.com`: enough to tell codes apart in a log, not to collect addresses.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local.chars().take(2).collect();
            format!("{shown}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn masks_the_local_part() {
        assert_eq!(mask_email("john@example.com"), "jo***@example.com");
        assert_eq!(mask_email("j@x.io"), "j***@x.io");
    }
}
