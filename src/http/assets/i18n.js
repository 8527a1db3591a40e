// Labels in Chinese (default) and English. The choice is remembered in localStorage.
"use strict";
window.I18N = {
  zh: {
    title: "雪亮工程 · 视频监控运维",
    tab_wall: "状态墙", tab_rates: "在线率与完好率", tab_alerts: "告警",
    lang_switch: "English", logout: "退出登录", login: "登录", user: "用户名", password: "密码",
    login_title: "请登录", login_failed: "用户名或密码错误", login_throttled: "失败次数过多，请稍后再试",
    role_viewer: "查看员", role_operator: "操作员", role_maintainer: "运维单位", open_mode: "未启用登录（仅本机）",
    search: "搜索编号或名称", all_regions: "全部区域", all_units: "全部单位", all_classes: "全部类别",
    all_states: "全部状态", class_n: "{0}类点位",
    st_online: "在线", st_offline: "离线", st_fault: "画面故障", st_connecting: "连接中",
    total: "总数", shown: "显示 {0} / {1}", tile_size: "图块", size_auto: "自动", size_large: "大", size_small: "小",
    live: "实时", disconnected: "连接中断，正在重连…",
    r_refused: "拒绝连接", r_unreachable: "网络不可达", r_auth: "认证失败", r_not_found: "码流不存在",
    r_no_video: "无视频", r_stalled: "视频中断", r_protocol: "协议错误",
    f_too_dark: "画面过暗", f_too_bright: "画面过亮", f_frozen: "画面冻结", f_blur: "图像模糊",
    f_occlusion: "视频遮挡", f_color_cast: "图像偏色", f_snow_noise: "雪花干扰", f_stripes: "条纹干扰",
    f_scene_change: "场景变换",
    since: "自", online_rate: "在线率", intact_rate: "完好率", live_online: "实时在线率",
    live_intact: "实时完好率", today_online: "今日在线率（时间加权）", today_intact: "今日完好率（时间加权）",
    target: "目标", gap: "差距", trend: "近 {0} 天趋势", group: "分组", cameras: "点位数",
    online_n: "在线", by: "分组维度", dim_region: "区域", dim_unit: "单位", dim_class: "类别", dim_maintainer: "运维单位",
    tab_maint: "报备", assessed_online: "考核在线率", assessed_intact: "考核完好率", m_cameras: "点位", m_target_ph: "点位编号(逗号分隔)或分组名称", m_start: "开始", m_end: "结束", m_reason: "报备事由", m_declare: "报备", m_note: "报备期间的离线与画面故障时长不计入考核在线率/完好率;事后补报的窗口标记为“补报”。", m_scope: "范围", m_by: "报备人", m_late: "补报", m_delete: "删除", m_none: "暂无报备", clock_offset: "时钟偏差", f_clock_drift: "时钟偏差", tab_tickets: "工单", t_ack: "接单", t_all: "全部", t_open: "待响应", t_acknowledged: "处理中", t_resolved: "已修复", t_closed: "已关闭", t_opened: "派单时间", t_respond_by: "响应时限", t_repair_by: "修复时限", t_sla: "超时", t_kpis: "本月运维考核", t_count: "工单数", t_outstanding: "未完成", t_mean_ack: "平均响应(分钟)", t_mean_repair: "平均修复(分钟)", t_breached: "超时工单", t_breach_rate: "超时率", t_respond_late: "响应超时", t_repair_late: "修复超时", t_major: "重大", t_picture: "画面故障", t_none: "暂无工单", export_csv: "导出日报 CSV", export_month: "导出月度考核 XLSX", fleet: "全网", no_data: "暂无数据", below: "未达标", meets: "达标",
    detail: "点位详情", close: "关闭", state: "状态", reason: "原因", region: "区域", unit: "单位",
    class: "类别", maintainer: "运维单位", url: "地址", mode: "接入方式", codec: "编码", counters: "计数",
    frames: "帧数", bytes: "字节", keyframes: "关键帧", attempts: "连接次数", reconnects: "重连次数",
    last_frame: "最后一帧", gop: "GOP 帧数", setup: "建连耗时 (秒)", history: "近 24 小时状态",
    outages: "离线记录", start: "开始", end: "结束", duration: "时长", picture: "画面",
    no_snapshot: "暂无截图", picture_ok: "画面正常", now: "至今",
    alerts: "告警", kind: "类型", severity: "级别", all_kinds: "全部类型", acked: "确认",
    all_acked: "全部", acked_yes: "已确认", acked_no: "未确认", camera: "点位",
    k_crowding: "人员聚集", k_uncovered_truck: "渣土车未苫盖", k_video_loss: "视频丢失", k_video_abnormal: "视频异常",
    s_open: "进行中", s_ended: "已结束", p_new: "新告警", p_update: "更新", p_end: "结束",
    sev_info: "提示", sev_warning: "警告", sev_minor: "一般", sev_major: "重要", sev_critical: "紧急",
    started: "开始时间", updated: "更新时间", ended: "结束时间", seq: "序号", count: "目标数",
    ack: "确认告警", ack_note: "备注", acked_by: "确认人", acked_at: "确认时间",
    operators_only: "仅操作员可确认", no_alerts: "暂无告警", alerts_unavailable: "告警接口不可用",
    select_alert: "选择一条告警查看截图与目标框", refresh: "刷新", ack_failed: "确认失败",
  },
  en: {
    title: "Sharp Eyes · camera operations",
    tab_wall: "Status wall", tab_rates: "Online & intact rate", tab_alerts: "Alerts",
    lang_switch: "中文", logout: "Log out", login: "Log in", user: "User", password: "Password",
    login_title: "Please log in", login_failed: "Wrong user name or password", login_throttled: "Too many failures; try again later",
    role_viewer: "viewer", role_operator: "operator", role_maintainer: "maintainer", open_mode: "no login (loopback only)",
    search: "Search id or name", all_regions: "All regions", all_units: "All units", all_classes: "All classes",
    all_states: "All states", class_n: "class {0}",
    st_online: "online", st_offline: "offline", st_fault: "picture fault", st_connecting: "connecting",
    total: "Total", shown: "Showing {0} of {1}", tile_size: "Tiles", size_auto: "auto", size_large: "large", size_small: "small",
    live: "live", disconnected: "Connection lost, reconnecting…",
    r_refused: "refused", r_unreachable: "unreachable", r_auth: "auth failed", r_not_found: "stream not found",
    r_no_video: "no video", r_stalled: "stalled", r_protocol: "protocol error",
    f_too_dark: "too dark", f_too_bright: "too bright", f_frozen: "frozen", f_blur: "blur",
    f_occlusion: "occlusion", f_color_cast: "colour cast", f_snow_noise: "snow noise", f_stripes: "stripes",
    f_scene_change: "scene change",
    since: "since", online_rate: "Online rate", intact_rate: "Intact rate", live_online: "Live online rate",
    live_intact: "Live intact rate", today_online: "Today's online rate (time-weighted)", today_intact: "Today's intact rate (time-weighted)",
    target: "Target", gap: "Gap", trend: "Last {0} days", group: "Group", cameras: "Cameras",
    online_n: "Online", by: "Group by", dim_region: "Region", dim_unit: "Unit", dim_class: "Class", dim_maintainer: "Maintainer",
    tab_maint: "Maintenance", assessed_online: "Assessed online", assessed_intact: "Assessed intact", m_cameras: "Cameras", m_target_ph: "camera ids (comma-separated) or group name", m_start: "Start", m_end: "End", m_reason: "Reason", m_declare: "Declare", m_note: "Offline and picture-fault time inside a window is left out of the assessed rates; windows declared after the fact are marked late.", m_scope: "Scope", m_by: "Declared by", m_late: "late", m_delete: "Delete", m_none: "No maintenance windows", clock_offset: "Clock offset", f_clock_drift: "Clock drift", tab_tickets: "Tickets", t_ack: "Acknowledge", t_all: "All", t_open: "open", t_acknowledged: "acknowledged", t_resolved: "resolved", t_closed: "closed", t_opened: "Opened", t_respond_by: "Respond by", t_repair_by: "Repair by", t_sla: "SLA", t_kpis: "Maintainers this month", t_count: "Tickets", t_outstanding: "Outstanding", t_mean_ack: "Mean ack (min)", t_mean_repair: "Mean repair (min)", t_breached: "Breached", t_breach_rate: "Breach rate", t_respond_late: "respond late", t_repair_late: "repair late", t_major: "major", t_picture: "picture fault", t_none: "No tickets", export_csv: "Export daily report (CSV)", export_month: "Monthly assessment (XLSX)", fleet: "Fleet", no_data: "no data", below: "below target", meets: "meets target",
    detail: "Camera detail", close: "Close", state: "State", reason: "Reason", region: "Region", unit: "Unit",
    class: "Class", maintainer: "Maintainer", url: "URL", mode: "Mode", codec: "Codec", counters: "Counters",
    frames: "Frames", bytes: "Bytes", keyframes: "Keyframes", attempts: "Attempts", reconnects: "Reconnects",
    last_frame: "Last frame", gop: "GOP frames", setup: "Setup (s)", history: "Last 24 hours",
    outages: "Outages", start: "Start", end: "End", duration: "Duration", picture: "Picture",
    no_snapshot: "No snapshot yet", picture_ok: "picture OK", now: "now",
    alerts: "Alerts", kind: "Kind", severity: "Severity", all_kinds: "All kinds", acked: "Acknowledged",
    all_acked: "All", acked_yes: "acknowledged", acked_no: "not acknowledged", camera: "Camera",
    k_crowding: "crowding", k_uncovered_truck: "uncovered truck", k_video_loss: "video loss", k_video_abnormal: "abnormal picture",
    s_open: "open", s_ended: "ended", p_new: "new", p_update: "update", p_end: "end",
    sev_info: "info", sev_warning: "warning", sev_minor: "minor", sev_major: "major", sev_critical: "critical",
    started: "Started", updated: "Updated", ended: "Ended", seq: "Seq", count: "Objects",
    ack: "Acknowledge", ack_note: "Note", acked_by: "Acknowledged by", acked_at: "Acknowledged at",
    operators_only: "Only operators acknowledge", no_alerts: "No alerts", alerts_unavailable: "Alert API unavailable",
    select_alert: "Select an alert to see its picture and boxes", refresh: "Refresh", ack_failed: "Acknowledge failed",
  },
};
window.lang = localStorage.getItem("sharpeyes.lang") || "zh";
window.t = function (key, ...args) {
  const d = window.I18N[window.lang] || window.I18N.zh;
  let s = d[key] ?? window.I18N.zh[key] ?? key;
  args.forEach((a, i) => { s = s.replace("{" + i + "}", a); });
  return s;
};
window.applyI18n = function (root) {
  document.documentElement.lang = window.lang === "en" ? "en" : "zh-CN";
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = window.t(el.dataset.i18n); });
  (root || document).querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = window.t(el.dataset.i18nPh); });
  document.title = window.t("title");
};
window.setLang = function (l) {
  window.lang = l;
  localStorage.setItem("sharpeyes.lang", l);
  window.applyI18n();
};
