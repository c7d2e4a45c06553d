//! Contact referrals: a close contact goes to the centre where they live.

use renkei_federation::wire::{Body, ContactReferral, TransferredContact};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::{Out, conflict, queue};
use crate::command::ApplyError;

/// Refers a close contact to the centre where they live.
#[allow(clippy::too_many_arguments)]
pub async fn refer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    referral_id: Uuid,
    case_id: &str,
    contact_id: &str,
    to: &str,
    index_link: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let k = sqlx::query("SELECT name, name_kana, phone, municipality_code, relation, last_exposure_on, referred_to FROM contacts WHERE id = ? AND case_id = ?")
        .bind(contact_id)
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApplyError::NotFound("contact"))?;
    if let Some(already) = k.get::<Option<String>, _>(6) {
        return Err(conflict(format!(
            "the contact was already referred to `{already}`"
        )));
    }
    let contact = TransferredContact {
        name: k.get(0),
        name_kana: k.get(1),
        phone: k.get(2),
        municipality_code: k.get(3),
        relation: k.get(4),
        last_exposure_on: k.get(5),
    };
    sqlx::query("UPDATE contacts SET referred_to = ? WHERE id = ?")
        .bind(to)
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    let body = Body::ContactReferral(ContactReferral {
        referral_id,
        index_link: index_link.to_string(),
        contact,
    });
    queue(conn, out, message_id, to, None, body).await
}

pub async fn receive_referral(
    conn: &mut SqliteConnection,
    sender: &str,
    r: &ContactReferral,
    at: &str,
) -> Result<(), ApplyError> {
    let k = &r.contact;
    sqlx::query(
        "INSERT INTO referred_contacts (id, from_centre, index_link, name, name_kana, phone, municipality_code, relation, last_exposure_on, received_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(r.referral_id.to_string())
    .bind(sender)
    .bind(&r.index_link)
    .bind(&k.name)
    .bind(&k.name_kana)
    .bind(&k.phone)
    .bind(&k.municipality_code)
    .bind(&k.relation)
    .bind(&k.last_exposure_on)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
