//! The interface's words in Japanese (the default) and English.
//!
//! One table, key → (Japanese, English). Vocabulary keys are the API's wire
//! names under a prefix (`status.home`, `class.confirmed`), so a new wire
//! name shows up as its key until it is translated here; a test checks that
//! every wire name has both words.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s == "en" { Lang::En } else { Lang::Ja }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// The word for `key`, or the key itself if it has none.
pub fn t(lang: Lang, key: &str) -> &str {
    match WORDS.binary_search_by(|(k, _, _)| k.cmp(&key)) {
        Ok(i) => match lang {
            Lang::Ja => WORDS[i].1,
            Lang::En => WORDS[i].2,
        },
        Err(_) => key,
    }
}

/// The word for a vocabulary value: `t(lang, "status.home")`.
pub fn word(lang: Lang, prefix: &str, value: &str) -> String {
    let key = format!("{prefix}.{value}");
    let w = t(lang, &key);
    if w == key {
        value.to_string()
    } else {
        w.to_string()
    }
}

/// Sorted by key (a test checks).
static WORDS: &[(&str, &str, &str)] = &[
    ("action.accept", "受け入れる", "Accept"),
    ("action.add", "追加", "Add"),
    ("action.add_user", "ユーザーを追加", "Add user"),
    ("action.assign", "割り当てる", "Assign"),
    (
        "action.confirm",
        "保健所確認済にする",
        "Mark confirmed by the centre",
    ),
    ("action.disable", "無効化", "Disable"),
    ("action.filter", "絞り込む", "Filter"),
    (
        "action.issue_link",
        "自己報告リンクを発行",
        "Issue self-report link",
    ),
    ("action.login", "ログイン", "Log in"),
    ("action.logout", "ログアウト", "Log out"),
    ("action.move", "居所を変更", "Record new place of stay"),
    ("action.older", "さらに古い患者", "Older cases"),
    (
        "action.refer",
        "居住地の保健所へ連絡",
        "Refer to their centre",
    ),
    ("action.register", "届出を登録", "Register notification"),
    ("action.reject", "断る", "Reject"),
    (
        "action.reset",
        "パスワードと二要素認証をリセット",
        "Reset password and 2FA",
    ),
    ("action.revoke", "共有を取り消す", "Revoke"),
    ("action.save", "保存", "Save"),
    ("action.send_report", "送信する", "Send"),
    ("action.set_status", "ステータスを更新", "Update status"),
    ("action.share", "共有する", "Share"),
    ("action.start", "登録して始める", "Save and start"),
    ("action.transfer", "移管を申し出る", "Offer transfer"),
    ("action.withdraw", "取り下げる", "Withdraw"),
    ("admin.actor", "利用者", "User"),
    ("admin.audit", "監査ログ", "Audit log"),
    (
        "admin.created",
        "ユーザーを作成しました。以下を本人に直接渡してください(一度だけ表示)。",
        "The user was created. Hand these to them in person (shown once).",
    ),
    ("admin.disabled", "無効", "Disabled"),
    ("admin.expiring", "まもなく期限", "Expiring soon"),
    ("admin.inactive", "30日以上未使用", "Unused 30+ days"),
    ("admin.last_login", "最終ログイン", "Last login"),
    ("admin.must_change", "初回ログイン前", "Not yet logged in"),
    (
        "admin.one_time_password",
        "仮パスワード",
        "One-time password",
    ),
    ("admin.outcome", "結果", "Outcome"),
    (
        "admin.reset_done",
        "リセットしました。以下を本人に直接渡してください(一度だけ表示)。",
        "Reset. Hand these to the user in person (shown once).",
    ),
    (
        "admin.unexplained",
        "割当のない閲覧",
        "Views without assignment",
    ),
    (
        "admin.unexplained_help",
        "委託先・宿泊施設による、割り当てのない患者への閲覧と拒否された試み。",
        "Contractor and facility views of, and refused attempts at, patients not assigned to them.",
    ),
    ("admin.until", "利用期限", "Account end date"),
    ("admin.users", "ユーザー", "Users"),
    ("age", "年齢", "Age"),
    ("alert.fever", "発熱の悪化", "Rising fever"),
    ("alert.spo2", "SpO2低下", "Low SpO2"),
    ("assignment", "健康観察の担当", "Follow-up assignment"),
    ("assignment_kind.centre", "保健所", "Health centre"),
    ("assignment_kind.contractor", "委託先", "Contractor"),
    (
        "assignment_kind.facility",
        "宿泊療養施設",
        "Accommodation facility",
    ),
    (
        "assignment_kind.midwives",
        "助産師会",
        "Midwives' association",
    ),
    ("audit.action", "操作", "Action"),
    ("audit.case", "患者ID", "Case id"),
    ("audit.part", "対象", "Part"),
    ("case.alert", "要注意", "Alert"),
    (
        "case.belongs_elsewhere",
        "他保健所の管轄",
        "Belongs to another centre",
    ),
    ("case.confirmed", "保健所確認済", "Confirmed by the centre"),
    ("case.entered_by", "入力者", "Entered by"),
    (
        "case.locked",
        "追加登録によりロック",
        "Locked by an additional registration",
    ),
    ("case.not_confirmed", "未確認", "Not confirmed"),
    (
        "case.owner",
        "移管済み(閲覧のみ)。現在の担当:",
        "Transferred (read-only). Now held by:",
    ),
    (
        "case.pending_transfer",
        "移管の申し出中のため編集できません",
        "A transfer is on offer: the record cannot be edited",
    ),
    (
        "class.asymptomatic_carrier",
        "無症状病原体保有者",
        "Asymptomatic carrier",
    ),
    ("class.confirmed", "患者(確定例)", "Confirmed case"),
    ("class.deceased", "感染症死亡者の死体", "Deceased"),
    (
        "class.deceased_suspected",
        "感染症死亡疑い者の死体",
        "Deceased (suspected)",
    ),
    ("class.suspected", "疑似症患者", "Suspected case"),
    (
        "confirm.by_entrant",
        "この届出はあなたが入力しました。確認は別の職員が行うことが望まれます。",
        "You entered this notification; another member of staff should confirm it.",
    ),
    ("confirm.done", "確認者", "Confirmed by"),
    ("contact.exposure", "最終接触日", "Last exposure"),
    ("contact.referred", "連絡済", "Referred"),
    ("contact.relation", "関係", "Relation"),
    (
        "dash.by_sex_age",
        "本日の届出(性別×年代)",
        "Today's notifications (sex × age band)",
    ),
    (
        "dash.curve",
        "届出数の推移(28日)",
        "Notifications, last 28 days",
    ),
    ("dash.incoming", "移管の申し出", "Transfer offers"),
    ("dash.today", "本日の届出", "Notified today"),
    ("dash.total", "計", "Total"),
    ("dash.unconfirmed", "未確認", "Unconfirmed"),
    ("date_of_birth", "生年月日", "Date of birth"),
    ("diagnosis_class", "診断類型", "Diagnosis class"),
    ("diagnosis_date", "診断日", "Diagnosis date"),
    (
        "error.csrf",
        "フォームの有効期限が切れました。もう一度お試しください。",
        "The form has expired; please try again.",
    ),
    (
        "error.forbidden",
        "この操作は許可されていません。",
        "You may not do this.",
    ),
    (
        "error.internal",
        "処理できませんでした。時間をおいて再度お試しください。",
        "Something went wrong; please try again shortly.",
    ),
    (
        "error.link",
        "このリンクは無効か期限切れです。保健所にお問い合わせください。",
        "This link is not valid or has expired. Please contact your health centre.",
    ),
    (
        "error.login",
        "ID、パスワードまたは確認コードが違います。",
        "The user id, password or code is wrong.",
    ),
    ("filter.alert", "要注意", "Alerts"),
    ("filter.all", "すべて", "All"),
    ("filter.elsewhere", "他保健所の管轄", "Belongs elsewhere"),
    ("filter.incoming", "移管の申し出", "Incoming transfers"),
    ("filter.unconfirmed", "未確認", "Unconfirmed"),
    (
        "fold.more",
        "その他の項目(後からでも入力できます)",
        "More details (can be added later)",
    ),
    ("hospital", "医療機関", "Hospital"),
    ("lang.switch", "English", "日本語"),
    ("list.empty", "該当する患者はいません。", "No cases match."),
    ("login.code", "確認コード(6桁)", "One-time code (6 digits)"),
    ("login.password", "パスワード", "Password"),
    ("login.title", "ログイン", "Log in"),
    ("login.user", "ユーザーID", "User id"),
    ("medical.admitted_on", "入院日", "Admitted on"),
    ("medical.discharged_on", "退院日", "Discharged on"),
    ("medical.ecmo", "ECMO", "ECMO"),
    ("medical.icu", "ICU入室", "In ICU"),
    ("medical.severe", "重症", "Severe"),
    ("medical.ventilator", "人工呼吸器", "Ventilator"),
    ("municipality_code", "市区町村コード", "Municipality code"),
    ("name", "氏名", "Name"),
    ("name_kana", "フリガナ", "Name (kana)"),
    (
        "national.timeliness",
        "保健所ごとの報告の適時性",
        "Reporting timeliness by centre",
    ),
    ("nav.audit", "監査ログ", "Audit log"),
    ("nav.cases", "患者一覧", "Cases"),
    ("nav.dashboard", "ダッシュボード", "Dashboard"),
    ("nav.followup", "担当患者", "My patients"),
    ("nav.national", "報告の適時性", "Timeliness"),
    ("nav.new", "発生届の入力", "New notification"),
    ("nav.notifications", "届出一覧", "My notifications"),
    ("nav.shared", "共有された患者", "Shared with us"),
    ("nav.stats", "全国統計", "National statistics"),
    ("nav.transfers", "移管", "Transfers"),
    ("nav.unexplained", "割当のない閲覧", "Unexplained views"),
    ("nav.users", "ユーザー管理", "Users"),
    ("new.minimum", "最低限の6項目", "The six minimum fields"),
    ("new.title", "発生届", "Notification (発生届)"),
    (
        "notification.correct",
        "届出内容を修正・追加",
        "Correct or complete the notification",
    ),
    ("obs.chart", "体温とSpO2の推移", "Temperature and SpO2"),
    ("obs.entered_by", "入力", "Entered by"),
    ("obs.new", "健康観察を記録", "Record an observation"),
    (
        "obs.none",
        "記録はまだありません。",
        "Nothing recorded yet.",
    ),
    ("obs.spo2", "SpO2(%)", "SpO2 (%)"),
    ("obs.symptoms", "症状", "Symptoms"),
    ("obs.temperature", "体温(℃)", "Temperature (°C)"),
    ("obs.time", "日時", "Time"),
    ("occupation", "職業", "Occupation"),
    ("onset_date", "発症日", "Onset date"),
    ("organisation", "所属", "Organisation"),
    (
        "patient.intro",
        "今日の体調を教えてください。",
        "Please tell us how you are today.",
    ),
    (
        "patient.thanks",
        "ありがとうございました。受け付けました。",
        "Thank you. Your report has been received.",
    ),
    (
        "patient.thanks_more",
        "息苦しさが強いときや具合が急に悪くなったときは、すぐに保健所へ電話してください。",
        "If you are very short of breath or suddenly worse, call your health centre at once.",
    ),
    ("patient.title", "健康状態の報告", "Health report"),
    ("phone", "電話番号", "Phone"),
    ("place.address", "住所(居所)", "Address (place of stay)"),
    ("place.history", "居所の履歴", "Places of stay"),
    (
        "purpose.admission_coordination",
        "入院調整",
        "Admission coordination",
    ),
    (
        "purpose.contact_tracing",
        "積極的疫学調査",
        "Contact tracing",
    ),
    ("purpose.follow_up", "健康観察", "Follow-up"),
    (
        "record.status_history",
        "ステータスの履歴",
        "Status history",
    ),
    ("reject.reason", "理由", "Reason"),
    ("reporting_doctor", "届出医師", "Reporting doctor"),
    (
        "reporting_institution",
        "届出医療機関",
        "Reporting institution",
    ),
    ("result.negative", "陰性", "Negative"),
    ("result.positive", "陽性", "Positive"),
    ("result.unknown", "不明", "Unknown"),
    ("role", "役割", "Role"),
    ("role.admin", "管理者", "Administrator"),
    ("role.contractor", "委託先", "Contractor"),
    ("role.facility", "宿泊療養施設", "Facility"),
    ("role.medical", "医療機関", "Medical institution"),
    ("role.ministry", "厚生労働省", "Ministry"),
    ("role.staff", "保健所職員", "Health-centre staff"),
    (
        "self_link.issued",
        "患者さんに送るリンク(一度だけ表示):",
        "The link to send the patient (shown once):",
    ),
    ("sex", "性別", "Sex"),
    ("sex.female", "女性", "Female"),
    ("sex.male", "男性", "Male"),
    ("sex.other", "その他", "Other"),
    ("share.created", "共有日時", "Shared at"),
    (
        "share.none",
        "他の保健所とは共有していません",
        "Not shared with any centre",
    ),
    ("share.purpose", "目的", "Purpose"),
    ("share.to", "共有先の保健所", "Share with centre"),
    ("share.viewers", "閲覧した人", "Looked at by"),
    (
        "shared.none",
        "他の保健所から共有された患者はいません",
        "No centre shares a case with this centre",
    ),
    (
        "shared.notice",
        "この患者は他の保健所が管理しています。閲覧は記録され、管理する保健所に通知されます。",
        "Another centre is responsible for this patient. Every look is recorded and reported to that centre.",
    ),
    ("shared.open", "見る", "Open"),
    ("shared.owner", "管理する保健所", "Responsible centre"),
    ("shared.updated", "更新日時", "Updated"),
    (
        "shares",
        "関係保健所との共有",
        "Shared with related centres",
    ),
    ("specimen.nasal_swab", "鼻腔ぬぐい液", "Nasal swab"),
    (
        "specimen.nasopharyngeal_swab",
        "鼻咽頭ぬぐい液",
        "Nasopharyngeal swab",
    ),
    ("specimen.other", "その他", "Other"),
    ("specimen.saliva", "唾液", "Saliva"),
    ("specimen.sputum", "喀痰", "Sputum"),
    ("state.accepting", "受け入れ中", "Accepting"),
    ("state.active", "共有中", "Active"),
    ("state.cancelled", "取り消し", "Cancelled"),
    ("state.completed", "完了", "Completed"),
    ("state.offered", "申し出中", "Offered"),
    ("state.rejected", "断られた", "Rejected"),
    ("state.revoked", "取り消し済み", "Revoked"),
    ("state.withdrawn", "取り下げ", "Withdrawn"),
    ("status", "現在のステータス", "Current status"),
    ("status.accommodation", "宿泊療養中", "In accommodation"),
    (
        "status.awaiting_admission",
        "入院待機中",
        "Awaiting admission",
    ),
    (
        "status.awaiting_decision",
        "療養先調整中",
        "Awaiting decision",
    ),
    ("status.deceased", "死亡", "Deceased"),
    ("status.home", "自宅療養中", "At home"),
    ("status.hospitalised", "入院中", "Hospitalised"),
    ("status.released", "療養解除", "Released"),
    ("symptom.cough", "咳", "Cough"),
    ("symptom.diarrhoea", "下痢", "Diarrhoea"),
    ("symptom.dyspnoea", "息苦しさ", "Shortness of breath"),
    ("symptom.fatigue", "だるさ", "Fatigue"),
    ("symptom.fever", "発熱", "Fever"),
    ("symptom.headache", "頭痛", "Headache"),
    ("symptom.loss_of_smell", "嗅覚障害", "Loss of smell"),
    ("symptom.loss_of_taste", "味覚障害", "Loss of taste"),
    ("symptom.other", "その他", "Other"),
    ("symptom.pneumonia", "肺炎", "Pneumonia"),
    ("symptom.sore_throat", "のどの痛み", "Sore throat"),
    ("tab.contacts", "接触者", "Contacts"),
    ("tab.medical", "医療", "Medical"),
    ("tab.notification", "届出", "Notification"),
    ("tab.observations", "健康観察", "Health observation"),
    ("tab.place", "居所", "Place of stay"),
    ("tab.record", "記録", "Record"),
    ("tab.tests", "検査", "Tests"),
    ("test.collected_on", "検体採取日", "Collected on"),
    ("test.method", "検査方法", "Method"),
    ("test.result", "結果", "Result"),
    ("test.specimen", "検体", "Specimen"),
    (
        "test_method.antigen_qualitative",
        "抗原定性検査",
        "Antigen (qualitative)",
    ),
    (
        "test_method.antigen_quantitative",
        "抗原定量検査",
        "Antigen (quantitative)",
    ),
    ("test_method.lamp", "LAMP法", "LAMP"),
    (
        "test_method.other_nucleic_acid",
        "その他の核酸増幅法",
        "Other nucleic-acid test",
    ),
    ("test_method.pcr", "PCR検査", "PCR"),
    (
        "transfer.duplicate",
        "同一人物の可能性がある既存の患者",
        "Possibly the same person as",
    ),
    (
        "transfer.in",
        "他の保健所からの移管の申し出",
        "Offers from other centres",
    ),
    ("transfer.out", "こちらからの申し出", "Our offers"),
    ("transfer.peer", "相手の保健所", "Centre"),
    ("transfer.reason", "理由", "Reason"),
    ("transfer.to", "移管先の保健所", "Transfer to centre"),
    (
        "welcome.intro",
        "初回ログインです。ご自身のパスワードを設定し、認証アプリに新しい鍵を登録してください。管理者から受け取った鍵はこれで使えなくなります。",
        "This is your first login. Set your own password and add a new key to your authenticator app; the key you were handed stops working.",
    ),
    (
        "welcome.new_password",
        "新しいパスワード(12文字以上)",
        "New password (12 characters or more)",
    ),
    ("welcome.old_password", "仮パスワード", "One-time password"),
    (
        "welcome.qr",
        "認証アプリでこのQRコードを読み取るか、鍵を入力してください。",
        "Scan this QR code with your authenticator app, or type in the key.",
    ),
    ("welcome.secret", "鍵", "Key"),
    ("welcome.title", "はじめに", "Welcome"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AssignmentKind, CaseStatus, DiagnosisClass, Role, Sex, Specimen, Symptom, TestMethod,
        TestResult, WireName,
    };

    #[test]
    fn the_table_is_sorted_and_has_no_duplicates() {
        for pair in WORDS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} then {}", pair[0].0, pair[1].0);
        }
    }

    fn all<T: WireName>(prefix: &str) -> Vec<String> {
        T::ALL
            .iter()
            .map(|v| format!("{prefix}.{}", v.wire_name()))
            .collect()
    }

    #[test]
    fn every_wire_name_has_both_words() {
        let keys = [
            all::<CaseStatus>("status"),
            all::<DiagnosisClass>("class"),
            all::<Sex>("sex"),
            all::<Symptom>("symptom"),
            all::<TestMethod>("test_method"),
            all::<Specimen>("specimen"),
            all::<TestResult>("result"),
            all::<AssignmentKind>("assignment_kind"),
            all::<Role>("role"),
        ]
        .concat();
        for key in keys {
            assert_ne!(t(Lang::Ja, &key), key, "{key} has no Japanese");
            assert_ne!(t(Lang::En, &key), key, "{key} has no English");
        }
        for (purpose, _) in crate::between::SHARE_PURPOSES {
            assert_ne!(
                t(Lang::Ja, &format!("purpose.{purpose}")),
                format!("purpose.{purpose}")
            );
        }
    }
}
