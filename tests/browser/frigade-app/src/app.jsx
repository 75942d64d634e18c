// The smallest real @frigade/react app: one checklist, plus a probe of its flow's state.
// tests/test_frigade_browser.py bundles it with esbuild and opens it with its settings in the query string:
//   index.html?apiUrl=http://127.0.0.1:PORT&apiKey=api_public_ENV&userId=USER&flowId=SLUG
// apiUrl is the mock's base URL: the SDK itself appends /v1/public/...
import { createRoot } from 'react-dom/client'
import * as Frigade from '@frigade/react'

const q = new URLSearchParams(window.location.search)
const cfg = { apiUrl: q.get('apiUrl'), apiKey: q.get('apiKey'), userId: q.get('userId'), flowId: q.get('flowId') }

// Tells "not loaded yet" from "loaded but hidden" (a completed flow renders no checklist at all).
function FlowStatus({ flowId }) {
  const { flow, isLoading } = Frigade.useFlow(flowId)
  return (
    <div
      id="flow-status"
      data-loading={String(isLoading)}
      data-loaded={String(!!flow)}
      data-completed={String(!!flow?.isCompleted)}
      data-visible={String(!!flow?.isVisible)}
      data-completed-steps={flow ? String(flow.getNumberOfCompletedSteps()) : ''}
      data-total-steps={flow ? String(flow.getNumberOfAvailableSteps()) : ''}
    />
  )
}

function App() {
  return (
    <Frigade.Provider apiKey={cfg.apiKey} userId={cfg.userId} apiUrl={cfg.apiUrl}>
      <FlowStatus flowId={cfg.flowId} />
      <Frigade.Checklist.Collapsible flowId={cfg.flowId} />
    </Frigade.Provider>
  )
}

createRoot(document.getElementById('root')).render(<App />)
