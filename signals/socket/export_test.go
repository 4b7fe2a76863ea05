package socket

// SetOnEnd makes h call f, with the reason, as each WebSocket connection or
// SSE stream has ended and released its Hub subscriber. Call it before h
// serves anything.
func SetOnEnd(h *Handler, f func(reason error)) { h.onEnd = f }
