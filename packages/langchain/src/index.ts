// @gatehouse/langchain: tag what each LangChain step sends through Gatehouse with its run id and step name.
export { GatehouseCallbackHandler, RUN_HEADER, STEP_HEADER, stepName, type Correlation, type CorrelationOptions, type FetchOptions } from './handler.ts';
