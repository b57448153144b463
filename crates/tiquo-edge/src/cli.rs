//! The command line: `serve`, `migrate` and the admin commands. Every command
//! takes the same configuration flags (see [`ConfigArgs`]).

use clap::{Args, Parser, Subcommand};

use tiquo_types::Money;

use crate::config::ConfigArgs;

fn parse_amount(text: &str) -> Result<Money, String> {
    Money::parse_major(text)
        .filter(|m| m.minor() >= 0)
        .ok_or_else(|| format!("'{text}' is not an amount like 150 or 150.00"))
}

/// tiquo-edge: the Tiquo Client API server and its admin commands.
#[derive(Debug, Parser)]
#[command(name = "tiquo-edge", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ConfigOnly),
    /// Apply database migrations and exit.
    Migrate(ConfigOnly),
    /// Create, link and show customers.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Issue access tokens with the built-in issuer.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the built-in issuer's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete unattached uploads past --orphan-ttl, expired upload URLs,
    /// interrupted uploads and objects whose delete failed; print what was removed as JSON.
    Gc(ConfigOnly),
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; the old one stops signing but stays published
    /// until the tokens it signed have expired (--access-token-ttl + 60 s).
    Rotate(ConfigOnly),
    /// List the keys as JSON: kid, created, retired, published until.
    List(ConfigOnly),
}

/// A command with only the configuration flags.
#[derive(Debug, Args)]
pub struct ConfigOnly {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `customers …`.
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Create a customer and print it as JSON.
    Create(CreateCustomer),
    /// Link a token identity (issuer + subject) to a customer.
    Link(LinkCustomer),
    /// Print one customer as JSON.
    Get(GetCustomer),
}

/// `customers create`.
#[derive(Debug, Args)]
pub struct CreateCustomer {
    /// Email (unique per organization, case-insensitive).
    #[arg(long)]
    pub email: String,
    /// First name.
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name.
    #[arg(long)]
    pub last_name: Option<String>,
    /// Phone, e.g. +1234567890.
    #[arg(long)]
    pub phone: Option<String>,
    /// Organization.
    #[arg(long, default_value = crate::auth::DEFAULT_ORGANIZATION)]
    pub organization: String,
    /// Orders placed so far (for imports and demos).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    pub total_orders: i64,
    /// Total spent, in major units with at most two decimals (e.g. 150.00).
    #[arg(long, default_value = "0", value_parser = parse_amount)]
    pub total_spent: Money,
    /// Lifetime value, in major units with at most two decimals (e.g. 200.00).
    #[arg(long, default_value = "0", value_parser = parse_amount)]
    pub lifetime_value: Money,
    /// Link this token subject to the new customer.
    #[arg(long)]
    pub subject: Option<String>,
    /// Issuer of the linked subject [default: the built-in issuer]
    #[arg(long, requires = "subject")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `customers link`.
#[derive(Debug, Args)]
pub struct LinkCustomer {
    /// Customer id (`cust_…`).
    #[arg(long)]
    pub customer: String,
    /// Token subject (`sub`).
    #[arg(long)]
    pub subject: String,
    /// Token issuer [default: the built-in issuer]
    #[arg(long)]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `customers get`.
#[derive(Debug, Args)]
pub struct GetCustomer {
    /// Customer id (`cust_…`).
    pub id: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print an access token signed by the built-in issuer.
    Issue(IssueToken),
}

/// `token issue`.
#[derive(Debug, Args)]
pub struct IssueToken {
    /// Subject (`sub`).
    #[arg(long)]
    pub subject: String,
    /// Email claim (issued with `email_verified: true`).
    #[arg(long)]
    pub email: Option<String>,
    /// Organization claim.
    #[arg(long, default_value = crate::auth::DEFAULT_ORGANIZATION)]
    pub organization: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=31_536_000))]
    pub ttl: i64,
    /// Print `{"access_token","expires_at"}` instead of the bare token.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}
